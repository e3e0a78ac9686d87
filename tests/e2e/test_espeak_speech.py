"""Real synthesised speech: espeak-ng says a sentence to a 22.05 kHz WAV (so the resampler runs), which goes
through the CTC and Whisper bundles and the transformers references on the same weights. Skipped where
espeak-ng is not installed (`apt-get install espeak-ng`)."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from edgetool.runtime import pipeline
from edgetool.runtime.preprocess.audio import load_audio, resample

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                reason="espeak-ng is not on PATH (apt-get install espeak-ng) - no synthetic speech")


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("speech") / "s.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "The quick brown fox jumps over the lazy dog."], check=True)
    assert load_audio(str(path))[1] != 16000  # espeak-ng writes 22050 Hz: the resampler is exercised
    return str(path)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_ctc_on_speech_matches_pipeline(bundle_dir, reference_dir, speech, backend):
    from transformers import pipeline as hf_pipeline

    ours = pipeline(bundle_dir("automatic-speech-recognition", target="openvino"), backend=backend)
    hf = hf_pipeline("automatic-speech-recognition", model=str(reference_dir("wav2vec2-tiny-ctc")))
    x = resample(*load_audio(speech), 16000)  # the same 16 kHz samples for both
    assert ours(speech) == ours(x) == hf(x)
    assert ours(speech, chunk_length_s=1.0, return_timestamps="word") == hf(x, chunk_length_s=1.0,
                                                                          return_timestamps="word")


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_whisper_on_speech_equals_generate(bundle_dir, reference_dir, speech, backend):
    import torch
    from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration, WhisperTokenizerFast

    path = str(reference_dir("whisper-tiny-random"))
    ours = pipeline(bundle_dir("automatic-speech-recognition", reference="whisper-tiny-random", target="openvino"),
                    backend=backend)
    x = resample(*load_audio(speech), 16000).astype(np.float32)
    feats = WhisperFeatureExtractor.from_pretrained(path)(x, sampling_rate=16000, return_tensors="pt").input_features
    with torch.no_grad():
        ids = WhisperForConditionalGeneration.from_pretrained(path).eval().generate(feats, max_new_tokens=8,
                                                                                     language="en")[0]
    want = WhisperTokenizerFast.from_pretrained(path).decode(ids, skip_special_tokens=True)
    assert ours(speech, generate_kwargs={"max_new_tokens": 8, "language": "en"})["text"] == want
