"""audio-classification and CTC speech recognition (Wav2Vec2) vs the transformers pipelines on the
same weights, on ONNX Runtime and OpenVINO; WAV decoding and bad audio inputs."""
from __future__ import annotations

import io

import numpy as np
import pytest
from wav_writer import wav_bytes as _wav

from edgetool.export.families.audio import sample_audio
from edgetool.runtime import pipeline
from edgetool.runtime.errors import UsageError
from edgetool.runtime.preprocess.audio import load_audio, wav2vec2_features

BACKENDS = ["onnxruntime", "openvino"]


@pytest.fixture(scope="module")
def hf(reference_dir):
    from transformers import pipeline as hf_pipeline

    return {"audio-classification": hf_pipeline("audio-classification", model=str(reference_dir("wav2vec2-tiny-classifier"))),
            "automatic-speech-recognition": hf_pipeline("automatic-speech-recognition",
                                                        model=str(reference_dir("wav2vec2-tiny-ctc")))}


@pytest.mark.family("audio-classification", "wav2vec2")
@pytest.mark.parametrize("backend", BACKENDS)
def test_audio_classification_matches_pipeline(bundle_dir, hf, backend):
    ours = pipeline(bundle_dir("audio-classification", target="openvino"), backend=backend)
    for a in sample_audio():
        for kw in ({}, {"top_k": 2}):
            x, y = ours(a, **kw), hf["audio-classification"](a, **kw)
            assert [r["label"] for r in x] == [r["label"] for r in y]
            assert max(abs(r["score"] - s["score"]) for r, s in zip(x, y)) < 1e-5


@pytest.mark.family("automatic-speech-recognition", "ctc")
@pytest.mark.parametrize("backend", BACKENDS)
def test_ctc_transcript_matches_pipeline(bundle_dir, hf, backend):
    ours = pipeline(bundle_dir("automatic-speech-recognition", target="openvino"), backend=backend)
    for a in sample_audio():
        assert ours(a) == hf["automatic-speech-recognition"](a)
    assert ours(sample_audio()[:2]) == [hf["automatic-speech-recognition"](a) for a in sample_audio()[:2]]


def test_features_match_wav2vec2_feature_extractor(reference_dir):
    from transformers import Wav2Vec2FeatureExtractor

    fe = Wav2Vec2FeatureExtractor.from_pretrained(str(reference_dir("wav2vec2-tiny-classifier")))
    waves = sample_audio()
    ref = fe(waves, sampling_rate=16000, padding=True, return_tensors="np", return_attention_mask=True)
    ours = wav2vec2_features(waves, fe.to_dict())
    assert np.abs(ours["input_values"] - ref["input_values"]).max() < 1e-5
    assert (ours["attention_mask"] == ref["attention_mask"]).all()


def test_wav_decoding_8_16_32_bit_and_stereo(tmp_path):
    import soundfile as sf

    x = sample_audio()[0] * 0.5
    for width, dtype, scale in ((2, np.int16, 32767), (4, np.int32, 2**31 - 1)):
        data = _wav((x * scale).astype(dtype), width=width)
        ref, _ = sf.read(io.BytesIO(data), dtype="float32")
        assert np.abs(load_audio(data)[0] - ref).max() < 1e-4
    eight = _wav((x * 127 + 128).astype(np.uint8), width=1)
    assert np.abs(load_audio(eight)[0] - x).max() < 0.02
    stereo = np.stack([x, -x * 0.5], axis=1)
    path = tmp_path / "s.wav"
    path.write_bytes(_wav((stereo * 32767).astype(np.int16), channels=2))
    assert np.abs(load_audio(str(path))[0] - (x - x * 0.5) / 2).max() < 1e-3


@pytest.mark.parametrize("bad,match", [
    (np.zeros(0, np.float32), "empty"),
    (np.array([0.1, np.nan], np.float32), "NaN"),
    (b"", "empty"),
    (b"ID3 this is an mp3", "not a WAV"),
    ({"raw": np.zeros(800, np.float32), "sampling_rate": -8000}, "positive whole number"),
    (np.zeros((2, 2, 2), np.float32), "1-D"),
    ("/no/such.wav", "does not exist"),
])
def test_bad_audio(bad, match):
    with pytest.raises(UsageError, match=match):
        load_audio(bad)


def test_short_audio_and_cli(bundle_dir, tmp_path):
    from click.testing import CliRunner

    from edgetool.cli import cli

    clf = pipeline(bundle_dir("audio-classification"))
    assert len(clf(np.random.default_rng(0).standard_normal(160).astype(np.float32), top_k=1)) == 1  # 10 ms
    path = tmp_path / "a.wav"
    path.write_bytes(_wav((sample_audio()[1] * 30000).astype(np.int16)))
    r = CliRunner().invoke(cli, ["run", str(bundle_dir("automatic-speech-recognition")), str(path), "--json"])
    assert r.exit_code == 0 and "text" in r.output
