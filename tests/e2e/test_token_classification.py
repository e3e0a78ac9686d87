"""token-classification (NER) vs the transformers pipeline: every aggregation strategy, WordPiece and
byte-level BPE tokenizers, overlapping windows for long texts, on ONNX Runtime and OpenVINO."""
from __future__ import annotations

import pytest

from edgetool.runtime import pipeline
from edgetool.runtime.errors import UsageError

TASK = "token-classification"
BACKENDS = ["onnxruntime", "openvino"]
REFERENCES = ["bert-tiny-ner", "roberta-tiny-ner"]
TEXTS = ["Barack Obama was born in Hawaii.",
         "Apple announced a new product in California, said John Smith of Microsoft's team!",
         "Angela Merkel met Google in Berlin"]
LONG = " ".join(TEXTS * 12)  # ~300 tokens: beyond the 128-token window


def _strip(x):
    return [_strip(i) for i in x] if isinstance(x, list) else {k: v for k, v in x.items() if k != "score"}


def _scores(x):
    return [s for i in x for s in _scores(i)] if isinstance(x, list) else [float(x["score"])]


def assert_same(a, b):
    assert _strip(a) == _strip(b)
    assert max([abs(u - v) for u, v in zip(_scores(a), _scores(b))] or [0.0]) < 1e-5


@pytest.fixture(scope="module")
def hf(reference_dir):
    from transformers import pipeline as hf_pipeline

    return {r: hf_pipeline(TASK, model=str(reference_dir(r))) for r in REFERENCES}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ref", REFERENCES)
def test_matches_transformers_pipeline(bundle_dir, hf, ref, backend):
    ours = pipeline(bundle_dir(TASK, reference=ref, target="openvino"), backend=backend)
    for strategy in ("none", "simple", "first", "average", "max"):
        assert_same(ours(TEXTS, aggregation_strategy=strategy), hf[ref](TEXTS, aggregation_strategy=strategy))
    assert_same(ours(TEXTS[1], ignore_labels=["O", "B-PER"]), hf[ref](TEXTS[1], ignore_labels=["O", "B-PER"]))


@pytest.mark.parametrize("ref", REFERENCES)
def test_long_text_windows_match_transformers_stride(bundle_dir, hf, ref):
    ours = pipeline(bundle_dir(TASK, reference=ref, target="openvino"))
    for strategy in ("simple", "first"):
        a = ours(LONG, aggregation_strategy=strategy, stride=16)
        assert_same(a, hf[ref](LONG, aggregation_strategy=strategy, stride=16))
        assert max(e["end"] for e in a) > len(LONG) * 0.9  # the tail of the text is covered, not truncated
    default = ours(LONG, aggregation_strategy="simple")  # windows by default for long texts
    assert max(e["end"] for e in default) > len(LONG) * 0.9


def test_bad_inputs(bundle_dir):
    ner = pipeline(bundle_dir(TASK))
    for bad in ("", " \n", [], None):
        with pytest.raises(UsageError):
            ner(bad)
    with pytest.raises(UsageError, match="aggregation_strategy"):
        ner("hi", aggregation_strategy="mean")
    huge = ner("John Smith lives in Paris. " * 4000, aggregation_strategy="simple")  # ~100k characters
    assert huge and max(e["end"] for e in huge) > 90_000
