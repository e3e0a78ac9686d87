"""Moonshine (raw samples into a conv encoder, decoder generation), exported from a local checkpoint directory,
against transformers' automatic-speech-recognition pipeline on ONNX Runtime and OpenVINO."""
from __future__ import annotations

import numpy as np
import pytest

from edgetool.export.families.audio import sample_audio
from edgetool.runtime import pipeline
from edgetool.runtime.errors import UnsupportedError

TASK = "automatic-speech-recognition"


@pytest.mark.family(TASK, "moonshine")
def test_moonshine_matches_transformers_pipeline(bundle_dir, reference_dir):
    from transformers import pipeline as hf_pipeline

    ckpt = reference_dir("moonshine-tiny-random")
    bundle, hf = bundle_dir(TASK, target="openvino", model=ckpt), hf_pipeline(TASK, model=str(ckpt))
    assert type(hf.model).__name__ == "MoonshineForConditionalGeneration"
    rng = np.random.default_rng(5)
    waves = sample_audio() + [(0.1 * rng.standard_normal(40000)).astype(np.float32)]
    want = [hf(w.copy())["text"] for w in waves[1:]] + [hf(waves[0].copy(), generate_kwargs={"max_new_tokens": 4})["text"]]
    for backend in ("onnxruntime", "openvino"):
        ours = pipeline(bundle, backend=backend)
        assert ours.bundle.family == "moonshine"
        got = [ours(w)["text"] for w in waves[1:]] + [ours(waves[0], generate_kwargs={"max_new_tokens": 4})["text"]]
        assert got == want, backend
        with pytest.raises(UnsupportedError, match="timestamps"):
            ours(waves[0], return_timestamps=True)
    assert len(set(want)) >= 3 and all(want), "transcripts too alike: the test proves little"
