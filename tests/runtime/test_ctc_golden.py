"""CTC decoding and CTC speech recognition against transformers 4.57 (golden files, no torch).

tests/golden_data/ctc.json:
- per Wav2Vec2CTCTokenizer configuration (default, do_lower_case, replace_word_delimiter_char="_"):
  frame-id sequences (runs, blanks, leading/trailing/double delimiters, special tokens, 200 random
  frames) with `decode`, `decode(output_char_offsets=True, output_word_offsets=True)`, `batch_decode`
  and the ASR pipeline's postprocess "chunks" for return_timestamps="char" / "word";
- the ASR pipeline end to end (plain, timestamps, chunk_length_s / stride_length_s) on a 1.6-s clip
  with a stand-in network (golden_support.ctc_stand_in_engine) in place of wav2vec2.
"""
from __future__ import annotations

import numpy as np
import pytest

from golden_support import ctc_stand_in_engine, from_pcm16, golden_arrays, golden_json, golden_pipeline

from edgetool.runtime.postprocess.ctc import ctc_decode, timestamp_chunks, word_offsets

DOC = golden_json("ctc")
RATE = 16000


def _vocab(ctc: dict) -> dict[int, str]:
    return {int(k): v for k, v in ctc["id2token"].items()}


def _cases():
    for tok in DOC["tokenizers"]:
        for name, case in tok["decode"].items():
            yield pytest.param(tok["ctc"], case, id=f"{tok['name']}-{name}")


def _offsets(chars: list[dict]) -> list[dict]:
    return [{"char": c["char"], "start_offset": c["start_offset"], "end_offset": c["end_offset"]} for c in chars]


@pytest.mark.parametrize("ctc,case", list(_cases()))
def test_decode_text_and_offsets_match_transformers(ctc, case):
    vocab = _vocab(ctc)
    assert ctc_decode(case["ids"], vocab, ctc, offsets=False)[0] == case["text"]
    text, chars = ctc_decode(np.asarray(case["ids"], np.int64), vocab, ctc)
    assert text == case["offsets_text"]
    assert _offsets(chars) == case["char_offsets"]
    space = ctc["replace_word_delimiter_char"]
    assert word_offsets(chars, space) == case["word_offsets"]
    ratio = ctc["inputs_to_logits_ratio"]
    for kind in ("char", "word"):
        got = timestamp_chunks(chars, kind, ratio, RATE, space)
        assert [{"text": c["text"], "timestamp": list(c["timestamp"])} for c in got] == case["chunks"][kind], kind


@pytest.mark.parametrize("tok", DOC["tokenizers"], ids=lambda t: t["name"])
def test_batch_decode_matches_transformers(tok):
    ctc, ref = tok["ctc"], tok["batch_decode"]
    decoded = [ctc_decode(ids, _vocab(ctc), ctc) for ids in ref["ids"]]
    assert [t for t, _ in decoded] == ref["text"]
    assert [_offsets(c) for _, c in decoded] == ref["char_offsets"]


def _asr():
    p = DOC["pipeline"]
    engine = ctc_stand_in_engine(p["buckets"], len(DOC["vocab"]), p["conv_kernel"], p["conv_stride"])
    return golden_pipeline("automatic-speech-recognition", "ctc", {"audio": p["audio"], "ctc": p["ctc"]}, engine)


@pytest.mark.parametrize("run", DOC["pipeline"]["runs"], ids=lambda r: "-".join(f"{k}={v}" for k, v in r["kwargs"].items()) or "plain")
def test_speech_recognition_pipeline_matches_transformers(run):
    """Frames -> text, timestamps in seconds and the chunk/stride cut, through the runtime pipeline with
    the same stand-in network transformers' pipeline ran with."""
    wave = from_pcm16(golden_arrays("ctc")[DOC["pipeline"]["wave_key"]])
    kwargs = dict(run["kwargs"])
    if isinstance(kwargs.get("stride_length_s"), list):
        kwargs["stride_length_s"] = tuple(kwargs["stride_length_s"])
    result = _asr()(wave, **kwargs)
    ref = run["result"]
    assert sorted(result) == sorted(ref)
    if "text" in ref:
        assert result["text"] == ref["text"]
    if "chunks" in ref:
        assert [{"text": c["text"], "timestamp": list(c["timestamp"])} for c in result["chunks"]] == ref["chunks"]
