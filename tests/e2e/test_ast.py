"""Audio Spectrogram Transformer: the NumPy Kaldi filter banks against ASTFeatureExtractor, and a tiny AST
exported from a local checkpoint directory against transformers' audio-classification pipeline on ONNX
Runtime and OpenVINO."""
from __future__ import annotations

import numpy as np
import pytest

from edgetool.export.families.audio import sample_audio
from edgetool.runtime import pipeline
from edgetool.runtime.errors import UnsupportedError
from edgetool.runtime.preprocess.ast_features import ast_features

TASK = "audio-classification"


def _waves() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return sample_audio() + [rng.uniform(-1, 1, 401).astype(np.float32), (0.01 * rng.standard_normal(33333)).astype(np.float32)]


@pytest.mark.parametrize("kw", [{}, {"num_mel_bins": 32, "max_length": 64}, {"do_normalize": False, "max_length": 50},
                                {"mean": 1.5, "std": 0.5, "num_mel_bins": 64}])
def test_fbank_matches_ast_feature_extractor(kw):
    from transformers import ASTFeatureExtractor

    fe = ASTFeatureExtractor(**kw)
    for w in _waves():
        a = ast_features([w], fe.to_dict())["input_values"]
        b = fe(w, sampling_rate=16000, return_tensors="np")["input_values"]
        assert a.shape == b.shape and np.abs(a - b).max() <= 1e-4
        assert np.ptp(a[0, :3]) > 0.1  # real filter banks, not padding


def test_too_short_audio_is_refused():
    with pytest.raises(UnsupportedError, match="at least 400"):
        ast_features([np.zeros(100, np.float32)], {})


@pytest.mark.family(TASK, "ast")
def test_ast_matches_transformers_pipeline(bundle_dir, reference_dir):
    from transformers import pipeline as hf_pipeline

    ckpt = reference_dir("ast-tiny-classifier")
    bundle, hf = bundle_dir(TASK, target="openvino", model=ckpt), hf_pipeline(TASK, model=str(ckpt))
    waves = _waves()
    want = [hf(w.copy(), top_k=4) for w in waves]
    for backend in ("onnxruntime", "openvino"):
        ours = pipeline(bundle, backend=backend)
        assert ours.bundle.family == "ast"
        for w, b in zip(waves, want):
            a = ours(w, top_k=4)
            assert [x["label"] for x in a] == [y["label"] for y in b], backend
            assert max(abs(x["score"] - y["score"]) for x, y in zip(a, b)) < 1e-4
    assert len({r[0]["label"] for r in want}) >= 2, "one label for every clip: the test proves little"
