"""Whisper (speech seq2seq) end to end: log-mel front end vs WhisperFeatureExtractor, transcript token
ids vs transformers `generate` on the same weights (forced language/task/no-timestamps tokens, language
detection, beam search), on ONNX Runtime and OpenVINO."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgetool.export.families.audio import sample_audio
from edgetool.runtime import pipeline
from edgetool.runtime.errors import UnsupportedError, UsageError
from edgetool.runtime.preprocess.audio import whisper_features

REF = "whisper-tiny-random"


@pytest.fixture(scope="module")
def hf(reference_dir):
    from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration, WhisperTokenizerFast

    path = str(reference_dir(REF))
    return (WhisperForConditionalGeneration.from_pretrained(path).eval(), WhisperFeatureExtractor.from_pretrained(path),
            WhisperTokenizerFast.from_pretrained(path))


@pytest.mark.parametrize("mels", [80, 128])
def test_log_mel_matches_feature_extractor(mels):
    from transformers import WhisperFeatureExtractor

    fe = WhisperFeatureExtractor(feature_size=mels)
    t = np.arange(32000) / 16000
    rng = np.random.default_rng(0)
    for w in (np.sin(2 * np.pi * 440 * t), 0.1 * rng.standard_normal(16000 * 45), np.zeros(16000)):
        w = w.astype(np.float32)
        ref = fe(w, sampling_rate=16000, return_tensors="np")["input_features"]
        assert np.abs(whisper_features([w], fe.to_dict())["input_features"] - ref).max() <= 1e-4


@pytest.mark.family("automatic-speech-recognition", "whisper")
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
@pytest.mark.parametrize("kwargs", [dict(language="en"), dict(language="de", task="translate"), dict(),
                                    dict(language="en", num_beams=3)], ids=["en", "de-translate", "detect", "beam3"])
def test_transcript_ids_equal_generate(bundle_dir, hf, backend, kwargs):
    model, fe, tok = hf
    asr = pipeline(bundle_dir("automatic-speech-recognition", reference=REF, target="openvino"), backend=backend)
    for audio in sample_audio()[:2]:
        feats = fe(audio, sampling_rate=16000, return_tensors="pt").input_features
        with torch.no_grad():
            ref = model.generate(feats, max_new_tokens=16, **kwargs)[0].tolist()
        ours = asr(audio, generate_kwargs={"max_new_tokens": 16, **kwargs})["text"]
        assert ours == tok.decode(ref, skip_special_tokens=True)
        assert len(ref) >= 16


def test_bad_options(bundle_dir):
    asr = pipeline(bundle_dir("automatic-speech-recognition", reference=REF))
    with pytest.raises(UsageError, match="Unknown language"):
        asr(sample_audio()[2], generate_kwargs={"language": "xx"})
    with pytest.raises(UsageError, match="task must be one of"):
        asr(sample_audio()[2], generate_kwargs={"task": "summarize"})
    with pytest.raises(UnsupportedError, match="timestamps"):
        asr(sample_audio()[2], return_timestamps=True)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_long_audio_windows_equal_per_window_generate(bundle_dir, hf, backend):
    """65 s -> three consecutive 30 s windows (the last 5 s); the transcript is the concatenation of each
    window's `generate` ids. (transformers' own long-form path differs: see runtime/pipelines/audio.py.)"""
    model, fe, tok = hf
    asr = pipeline(bundle_dir("automatic-speech-recognition", reference=REF, target="openvino"), backend=backend)
    rng = np.random.default_rng(3)
    clips = sample_audio()
    audio = np.concatenate([clips[i % 3] * (0.3 + 0.2 * (i % 4)) for i in range(60)])[:65 * 16000]
    audio = (audio + 0.01 * rng.standard_normal(audio.size)).astype(np.float32)
    ref = []
    for start in range(0, audio.size, 30 * 16000):
        feats = fe(audio[start:start + 30 * 16000], sampling_rate=16000, return_tensors="pt").input_features
        with torch.no_grad():
            ref += model.generate(feats, max_new_tokens=6, language="en")[0].tolist()
    want = tok.decode(ref, skip_special_tokens=True)
    assert want and asr(audio, generate_kwargs={"max_new_tokens": 6, "language": "en"})["text"] == want
    with pytest.raises(UsageError, match="chunk_length_s for Whisper"):
        asr(audio, chunk_length_s=45)

