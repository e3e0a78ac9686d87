"""A slow-only (SentencePiece) Speech2TextTokenizer converted to tokenizer.json decodes, through the runtime's
TextTokenizer, exactly as the slow tokenizer does — ids taken from vocab.json, not the SentencePiece model."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edgetool.export.reference.corpus import sentences
from edgetool.export.slow_tokenizers import decode_settings, fast_tokenizer
from edgetool.runtime.errors import BundleError, UnsupportedError
from edgetool.runtime.manifest import TokenizerSettings
from edgetool.runtime.preprocess.text import TextTokenizer


@pytest.fixture(scope="module")
def spm_dir(reference_dir, tmp_path_factory):
    """The reference checkpoint's SentencePiece model with vocab.json in another order than the model's ids
    (the converter must follow vocab.json)."""
    src = reference_dir("speech2text-tiny-random")
    out = tmp_path_factory.mktemp("s2t-tok")
    shutil.copy(src / "sentencepiece.bpe.model", out)
    vocab = json.loads((src / "vocab.json").read_text())
    specials, pieces = list(vocab)[:4], list(vocab)[4:]
    (out / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(specials + pieces[::-1])}))
    return out


def _slow(spm_dir, **kw):
    from transformers import Speech2TextTokenizer

    return Speech2TextTokenizer(str(spm_dir / "vocab.json"), str(spm_dir / "sentencepiece.bpe.model"), **kw)


@pytest.mark.parametrize("upper", [True, False])
def test_converted_speech2text_tokenizer_decodes_like_the_slow_one(spm_dir, tmp_path, upper):
    slow = _slow(spm_dir, do_upper_case=upper)
    fast, settings = fast_tokenizer(slow), decode_settings(slow)
    (tmp_path / "tokenizer.json").write_text(fast.to_str())
    ours = TextTokenizer(tmp_path / "tokenizer.json", settings)
    rng = np.random.default_rng(0)
    n = len(slow)
    sequences = [rng.integers(0, n, rng.integers(1, 25)).tolist() for _ in range(300)]
    sequences += [slow(text).input_ids for text in sentences(40)]
    texts = [ours.decode(ids) for ids in sequences]
    for ids, text in zip(sequences, texts):
        assert text == slow.decode(ids, skip_special_tokens=True), ids
    assert all(t == t.upper() for t in texts) == upper and len(set(texts)) > 250


def test_converted_speech2text_tokenizer_encodes_like_the_slow_one(spm_dir):
    slow = _slow(spm_dir)
    fast = fast_tokenizer(slow)
    for text in sentences(60):
        assert fast.encode(text).ids == slow(text).input_ids, text


def test_a_slow_tokenizer_without_a_converter_is_refused_by_name():
    class CamembertTokenizer:
        is_fast = False

    with pytest.raises(UnsupportedError, match="CamembertTokenizer is slow-only.*Speech2TextTokenizer"):
        fast_tokenizer(CamembertTokenizer())


def test_manifest_keeps_the_decode_steps_and_refuses_bad_ones():
    settings = TokenizerSettings.from_json({"sentencepiece_decode": {"strip": True, "upper": False}})
    assert settings.to_json() == {"sentencepiece_decode": {"strip": True, "upper": False}}
    with pytest.raises(BundleError, match="sentencepiece_decode.upper"):
        TokenizerSettings.from_json({"sentencepiece_decode": {"upper": "yes"}})
    with pytest.raises(BundleError, match="sentencepiece_decode"):
        TokenizerSettings.from_json({"sentencepiece_decode": {"lower": True}})
