"""Long-input windows against transformers 4.57 (golden files, no torch).

- tests/golden_data/windows.json: transformers' ASR chunk_iter over long audio (chunk_length_s /
  stride_length_s, aligned to a CTC model's 320 samples per frame) and, per chunk, the logits frames
  its postprocess keeps (rescale_stride, then the cut);
- text.json `windows`: the tokenizer's overflowing windows (truncation + stride) over a long text;
- spans.json `qa_windows` / `tc_windows`: the windows (input_ids) transformers' question-answering
  (doc_stride) and token-classification (stride, padded together) pipelines fed their model.
"""
from __future__ import annotations

import numpy as np
import pytest

from golden_support import GOLDEN, golden_json

from edgetool.runtime.postprocess.ctc import frames_kept
from edgetool.runtime.postprocess.windows import sliding_windows
from edgetool.runtime.preprocess.audio import chunk_audio
from edgetool.runtime.preprocess.text import TextTokenizer

DOC = golden_json("windows")
TEXT = golden_json("text")
SPANS = golden_json("spans")


def _tokenizer(variant: str) -> TextTokenizer:
    t = TEXT["tokenizers"][variant]
    return TextTokenizer(GOLDEN / t["file"], t["settings"])


def _stride(s):
    return tuple(s) if isinstance(s, list) else s


@pytest.mark.parametrize("case", DOC["audio_chunks"],
                         ids=lambda c: f"{c['samples']}-{c['chunk_s']}-{c['stride_s']}-{c['align_to']}")
def test_audio_chunks_match_chunk_iter(case):
    wave = np.arange(case["samples"], dtype=np.float32)  # as recorded: sample i holds i
    chunks = chunk_audio(wave, DOC["rate"], case["chunk_s"], _stride(case["stride_s"]), align_to=case["align_to"])
    ours = [{"start": c.start, "length": len(c.wave), "stride": list(c.stride), "is_last": c.is_last} for c in chunks]
    assert ours == [{k: r[k] for k in ("start", "length", "stride", "is_last")} for r in case["chunks"]]
    for c, r in zip(chunks, case["chunks"]):
        assert c.wave[0] == r["start"]
        if "frames_kept" in r:
            kept = frames_kept(len(c.wave), c.stride_left, c.stride_right, case["align_to"])
            assert [kept.start, kept.stop] == r["frames_kept"]


@pytest.mark.parametrize("case", TEXT["windows"], ids=lambda c: f"{c['tokenizer']}-{c['max_length']}-{c['stride']}")
def test_sliding_windows_match_tokenizer_overflow(case):
    tok = _tokenizer(case["tokenizer"])
    enc = tok.tok.encode(case["text"])
    ids = np.asarray(enc.ids)
    assert [ids[w].tolist() for w in sliding_windows(enc, case["max_length"], case["stride"])] == case["input_ids"]


@pytest.mark.parametrize("case", SPANS["qa_windows"], ids=lambda c: f"{c['tokenizer']}-{c['question']}-{c['doc_stride']}")
def test_question_answering_windows_match_transformers(case):
    tok = _tokenizer(case["tokenizer"])
    qf = tok.padding_side == "right"  # transformers puts the question first unless padding is on the left
    q, c = case["question"], case["context"]
    enc = tok.encode([q if qf else c], [c if qf else q], max_length=case["max_seq_len"],
                     truncation="only_second" if qf else "only_first", stride=case["doc_stride"], return_overflowing=True)
    assert [e.ids for e in enc.encodings] == case["input_ids"]


@pytest.mark.parametrize("case", SPANS["tc_windows"], ids=lambda c: f"{c['tokenizer']}-{c['stride']}")
def test_token_classification_windows_match_transformers(case):
    enc = _tokenizer(case["tokenizer"]).encode([case["text"]], stride=case["stride"], return_overflowing=True)
    assert enc.arrays["input_ids"].tolist() == case["input_ids"]
