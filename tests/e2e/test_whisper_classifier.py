"""WhisperForAudioClassification (Whisper's encoder classifier on log-mel input_features), exported from a local
checkpoint directory, against transformers' audio-classification pipeline on ONNX Runtime and OpenVINO; the
WhisperFeatureExtractor settings the runtime cannot reproduce stop the export by key and value."""
from __future__ import annotations

import numpy as np
import pytest
from export_support import assert_setting_refused

from edgetool.export.families.audio import sample_audio
from edgetool.runtime import pipeline

TASK = "audio-classification"


def _waves() -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    # shorter than the 1 s window (padded), and longer (cut) as well
    return sample_audio() + [(0.2 * rng.standard_normal(23456)).astype(np.float32)]


@pytest.mark.family(TASK, "whisper")
def test_whisper_classifier_matches_transformers_pipeline(bundle_dir, reference_dir):
    from transformers import pipeline as hf_pipeline

    ckpt = reference_dir("whisper-tiny-classifier")
    bundle, hf = bundle_dir(TASK, target="openvino", model=ckpt), hf_pipeline(TASK, model=str(ckpt))
    assert type(hf.model).__name__ == "WhisperForAudioClassification"
    waves = _waves()
    want = [hf(w.copy(), top_k=4) for w in waves]
    for backend in ("onnxruntime", "openvino"):
        ours = pipeline(bundle, backend=backend)
        assert ours.bundle.family == "whisper"
        for w, b in zip(waves, want):
            a = ours(w, top_k=4)
            assert [x["label"] for x in a] == [y["label"] for y in b], backend
            assert max(abs(x["score"] - y["score"]) for x, y in zip(a, b)) < 1e-4
    assert len({r[0]["label"] for r in want}) >= 2, "one label for every clip: the test proves little"


@pytest.mark.parametrize("key, value", [("return_attention_mask", True), ("padding_side", "left"),
                                        ("do_normalize", True), ("n_samples", 8000)])
def test_whisper_feature_setting_it_cannot_reproduce_stops_the_export(tmp_path, reference_dir, key, value):
    assert_setting_refused(reference_dir("whisper-tiny-classifier"), tmp_path, TASK, key, value)
