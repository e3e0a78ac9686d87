"""zero-shot-classification (vs the transformers pipeline) and multiple-choice (vs PyTorch logits of
AutoModelForMultipleChoice), on ONNX Runtime and OpenVINO."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgetool.runtime import pipeline
from edgetool.runtime.errors import UsageError

BACKENDS = ["onnxruntime", "openvino"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_shot_matches_pipeline(bundle_dir, reference_dir, backend):
    from transformers import pipeline as hf_pipeline

    hf = hf_pipeline("zero-shot-classification", model=str(reference_dir("bert-tiny-nli")))
    ours = pipeline(bundle_dir("zero-shot-classification", target="openvino"), backend=backend)
    cases = [("The election was strange.", dict(candidate_labels=["politics", "sports", "food", "travel"])),
             (["The soup was delicious", "Our team won"], dict(candidate_labels="food, sports", multi_label=True)),
             ("The soup was delicious", dict(candidate_labels=["food"])),
             ("I love this", dict(candidate_labels=["happy", "sad"], hypothesis_template="The mood is {}."))]
    for text, kw in cases:
        a, b = ours(text, **kw), hf(text, **kw)
        for x, y in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
            assert x["sequence"] == y["sequence"] and x["labels"] == y["labels"]
            assert np.abs(np.array(x["scores"]) - np.array(y["scores"])).max() < 1e-5


@pytest.mark.parametrize("backend", BACKENDS)
def test_multiple_choice_matches_torch_logits(bundle_dir, reference_dir, backend):
    from transformers import AutoModelForMultipleChoice, AutoTokenizer

    path = str(reference_dir("bert-tiny-choice"))
    tok, model = AutoTokenizer.from_pretrained(path), AutoModelForMultipleChoice.from_pretrained(path).eval()
    ours = pipeline(bundle_dir("multiple-choice", target="openvino"), backend=backend)
    for prompt, choices in [("The weather was", ["calm", "very crowded and noisy", "bad", "perfect"]),
                            ("Who wrote the book?", ["John Smith", "the children"])]:
        enc = tok([prompt] * len(choices), choices, padding=True, return_tensors="pt")
        with torch.no_grad():
            ref = model(**{k: v[None] for k, v in enc.items()}).logits[0].numpy()
        got = ours(prompt, choices=choices)
        assert np.abs(np.array(got["logits"]) - ref).max() < 1e-5
        assert got["answer"] == choices[int(ref.argmax())]
        assert abs(sum(got["scores"]) - 1) < 1e-5


def test_bad_inputs(bundle_dir):
    zs = pipeline(bundle_dir("zero-shot-classification"))
    with pytest.raises(UsageError, match="at least one candidate label"):
        zs("text", candidate_labels=[])
    with pytest.raises(UsageError, match="no '{}'"):
        zs("text", candidate_labels=["a"], hypothesis_template="no slot")
    with pytest.raises(UsageError, match="empty"):
        zs("  ", candidate_labels=["a"])
    mc = pipeline(bundle_dir("multiple-choice"))
    with pytest.raises(UsageError, match="at least two choices"):
        mc("prompt", choices=["only one"])


def test_cli_labels_and_choices(bundle_dir):
    import json

    from click.testing import CliRunner

    from edgetool.cli import cli

    r = CliRunner().invoke(cli, ["run", str(bundle_dir("zero-shot-classification")), "The soup was delicious",
                                 "--labels", "food,sports", "--json"])
    assert r.exit_code == 0, r.output
    assert sorted(json.loads(r.output)["labels"]) == ["food", "sports"]
    r = CliRunner().invoke(cli, ["run", str(bundle_dir("multiple-choice")), "The weather was", "--choices", "calm,bad"])
    assert r.exit_code == 0 and "calm" in r.output and "*" in r.output
