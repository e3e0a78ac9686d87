"""text-classification end to end: the runtime pipeline answers exactly like transformers.pipeline
on the same weights and tokenizer, on ONNX Runtime and OpenVINO."""
from __future__ import annotations

import json

import numpy as np
import pytest

from edgetool.runtime import pipeline
from edgetool.runtime.errors import UsageError

TASK = "text-classification"
BACKENDS = ["onnxruntime", "openvino"]
CASES = [
    ("I love this", {}),
    (["I love this", "The soup was quite bad and rather expensive."], {}),
    ("This is the worst experience of my life", {"top_k": None}),
    (["What a great day", "Who wrote the book?"], {"top_k": 2}),
    ("What a great day", {"function_to_apply": "sigmoid", "top_k": None}),
    ("What a great day", {"function_to_apply": "none"}),
    ({"text": "The movie was surprisingly good.", "text_pair": "It was long."}, {}),
    ([{"text": "Is it cheap?", "text_pair": "The hotel was really cheap."}], {"top_k": 1}),
]


def assert_same(ours, theirs, atol=1e-5):
    """Same structure, labels and order; scores within atol."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), (ours, theirs)
        assert ours["label"] == theirs["label"]
        assert abs(ours["score"] - theirs["score"]) <= atol, (ours, theirs)
    else:
        assert isinstance(ours, list) and len(ours) == len(theirs), (ours, theirs)
        for a, b in zip(ours, theirs):
            assert_same(a, b, atol)


@pytest.fixture(scope="module")
def hf_pipe(reference_dir):
    from transformers import pipeline as hf_pipeline

    return hf_pipeline(TASK, model=str(reference_dir("bert-tiny-classifier")), device="cpu")


@pytest.fixture(scope="module")
def bundle(bundle_dir):
    return bundle_dir(TASK, target="openvino")


@pytest.mark.family("text-classification", "encoder")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("inputs,kwargs", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_matches_transformers_pipeline(bundle, hf_pipe, backend, inputs, kwargs):
    ours = pipeline(bundle, backend=backend)(inputs, **kwargs)
    theirs = hf_pipe(inputs, **kwargs)
    assert_same(ours, theirs)


@pytest.mark.parametrize("backend", BACKENDS)
def test_long_text_truncated_to_model_max_length(bundle, hf_pipe, backend):
    text = "the weather was absolutely wonderful " * 200  # far beyond 128 tokens
    ours = pipeline(bundle, backend=backend)(text, top_k=None)
    theirs = hf_pipe(text, top_k=None, truncation=True)
    assert_same(ours, theirs)


def test_batching_does_not_change_scores(bundle):
    clf = pipeline(bundle)
    texts = ["a", "a much longer sentence that needs padding in the batch", "I love this"]
    batched = clf(texts, top_k=None, batch_size=3)
    single = [clf(t, top_k=None) for t in texts]
    for a, b in zip(batched, single):
        assert_same(a, b, atol=1e-6)


def test_local_checkpoint_dir(tmp_path, bundle_dir, reference_dir):
    """A user's own checkpoint (multi-label, 4 labels -> sigmoid) exported with --model."""
    import shutil

    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification
    from transformers import pipeline as hf_pipeline

    from edgetool.export.reference.text import tiny_bert_config

    ckpt = tmp_path / "my-checkpoint"
    tok = AutoTokenizer.from_pretrained(str(reference_dir("bert-tiny-classifier")))
    tok.save_pretrained(str(ckpt))
    torch.manual_seed(123)
    labels = {0: "sports", 1: "politics", 2: "tech", 3: "food"}
    config = tiny_bert_config(len(tok), num_hidden_layers=1, id2label=labels, label2id={v: k for k, v in labels.items()},
                              problem_type="multi_label_classification")
    BertForSequenceClassification(config).eval().save_pretrained(str(ckpt))
    out = bundle_dir(TASK, model=ckpt)
    manifest = json.loads((out / "edgetool.json").read_text())
    assert manifest["provenance"]["source"] == str(ckpt)
    assert manifest["labels"] == {str(k): v for k, v in labels.items()}
    hf = hf_pipeline(TASK, model=str(ckpt), device="cpu")
    for text in ["the soup was delicious", "The election was strange."]:
        assert_same(pipeline(out)(text, top_k=None), hf(text, top_k=None))
        assert_same(pipeline(out)(text), hf(text))
    shutil.rmtree(ckpt)


@pytest.mark.parametrize("bad,message", [
    ("", "empty"),
    ("   \n\t", "empty"),
    ([], "empty list"),
    (123, "got int"),
    (["ok", None], "got NoneType"),
    ({"text_pair": "x"}, "'text' key"),
])
def test_bad_inputs_are_clear_errors(bundle, bad, message):
    with pytest.raises(UsageError, match=message):
        pipeline(bundle)(bad)


def test_bad_options_are_clear_errors(bundle):
    clf = pipeline(bundle)
    with pytest.raises(UsageError, match="function_to_apply"):
        clf("hi", function_to_apply="relu")
    with pytest.raises(UsageError, match="top_k"):
        clf("hi", top_k=0)
    with pytest.raises(UsageError, match="no 'int8'"):
        pipeline(bundle, precision="int8")


def test_golden_records_torch_outputs(bundle, reference_dir):
    """The golden outputs are the PyTorch model's, not the exported artifact's."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from edgetool.runtime.bundle import Bundle
    from edgetool.check.golden import load

    model = AutoModelForSequenceClassification.from_pretrained(str(reference_dir("bert-tiny-classifier"))).eval()
    golden = load(Bundle.load(bundle))
    call = golden.calls[0][0]
    with torch.no_grad():
        ref = model(**{k: torch.from_numpy(v) for k, v in call.feeds.items()}).logits.numpy()
    np.testing.assert_allclose(call.outputs["logits"], ref, atol=1e-6)
