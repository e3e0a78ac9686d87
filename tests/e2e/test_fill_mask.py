"""fill-mask end to end for WordPiece (BERT) and byte-level BPE (RoBERTa) tokenizers, against the
transformers pipeline on the same weights, on ONNX Runtime and OpenVINO."""
from __future__ import annotations

import pytest

from edgetool.runtime import pipeline
from edgetool.runtime.errors import UsageError

TASK = "fill-mask"
BACKENDS = ["onnxruntime", "openvino"]
REFERENCES = ["bert-tiny-mlm", "roberta-tiny-mlm"]


def _strip(x):
    return [_strip(i) for i in x] if isinstance(x, list) else {k: v for k, v in x.items() if k != "score"}


def _scores(x):
    return [s for i in x for s in _scores(i)] if isinstance(x, list) else [x["score"]]


@pytest.fixture(scope="module")
def hf(reference_dir):
    from transformers import pipeline as hf_pipeline

    return {r: hf_pipeline(TASK, model=str(reference_dir(r))) for r in REFERENCES}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ref", REFERENCES)
def test_matches_transformers_pipeline(bundle_dir, hf, ref, backend):
    ours = pipeline(bundle_dir(TASK, reference=ref, target="openvino"), backend=backend)
    m = hf[ref].tokenizer.mask_token
    cases = [(f"The capital of France is {m}.", {}), (f"I {m} this, it was {m}.", {"top_k": 3}),
             ([f"What a {m} day", f"Who {m} it?"], {}), (f"The weather was {m}.", {"targets": ["good", "calm", "zzzq"]})]
    for args, kw in cases:
        a, b = ours(args, **kw), hf[ref](args, **kw)
        assert _strip(a) == _strip(b)
        assert max(abs(u - v) for u, v in zip(_scores(a), _scores(b))) < 1e-5


def test_bad_inputs(bundle_dir):
    fill = pipeline(bundle_dir(TASK))
    with pytest.raises(UsageError, match=r"No mask token \[MASK\]"):
        fill("there is no mask here")
    for bad in ("", "   ", []):
        with pytest.raises(UsageError):
            fill(bad)
    with pytest.raises(UsageError, match="targets"):
        fill("a [MASK] b", targets=[""])
