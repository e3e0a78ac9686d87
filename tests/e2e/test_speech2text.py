"""Speech2Text: the NumPy Kaldi filter banks with utterance CMVN against Speech2TextFeatureExtractor, and a tiny
Speech2Text (with its SentencePiece-only Speech2TextTokenizer, converted at export) exported from a local
checkpoint directory against transformers' automatic-speech-recognition pipeline on ONNX Runtime and OpenVINO."""
from __future__ import annotations


import numpy as np
import pytest
from export_support import assert_setting_refused

from edgetool.export.families.audio import sample_audio
from edgetool.runtime import pipeline
from edgetool.runtime.errors import UnsupportedError
from edgetool.runtime.preprocess.ast_features import speech2text_features

TASK = "automatic-speech-recognition"


def _waves() -> list[np.ndarray]:
    rng = np.random.default_rng(9)
    return sample_audio() + [rng.uniform(-1, 1, 700).astype(np.float32), (0.01 * rng.standard_normal(33333)).astype(np.float32)]


@pytest.mark.parametrize("kw", [{}, {"num_mel_bins": 40, "feature_size": 40}, {"do_ceptral_normalize": False},
                                {"normalize_vars": False}, {"normalize_means": False}])
def test_fbank_cmvn_matches_speech2text_feature_extractor(kw):
    from transformers import Speech2TextFeatureExtractor

    fe = Speech2TextFeatureExtractor(**kw)
    for w in _waves():
        a = speech2text_features([w], fe.to_dict())["input_features"]
        b = fe(w, sampling_rate=16000, return_tensors="np")["input_features"]
        assert a.shape == b.shape and np.abs(a - b).max() <= 1e-4 * max(1.0, np.abs(b).max())
        assert np.ptp(a[0, :, :3]) > 0.1


def test_one_frame_is_refused_where_transformers_answers_nan():
    with pytest.raises(UnsupportedError, match="one 25 ms frame"):
        speech2text_features([np.ones(500, np.float32)], {})


@pytest.mark.slow  # ~45 s (three dynamo graphs); Moonshine's test covers the same generation head in make test
@pytest.mark.family(TASK, "speech2text")
def test_speech2text_matches_transformers_pipeline(bundle_dir, reference_dir):
    from transformers import pipeline as hf_pipeline

    ckpt = reference_dir("speech2text-tiny-random")
    bundle, hf = bundle_dir(TASK, target="openvino", model=ckpt), hf_pipeline(TASK, model=str(ckpt))
    assert type(hf.model).__name__ == "Speech2TextForConditionalGeneration"
    waves = _waves()
    want = [hf(w.copy())["text"] for w in waves[1:]] + [hf(waves[0].copy(), generate_kwargs={"max_new_tokens": 4})["text"]]
    for backend in ("onnxruntime", "openvino"):
        ours = pipeline(bundle, backend=backend)
        assert ours.bundle.family == "speech2text"
        got = [ours(w)["text"] for w in waves[1:]] + [ours(waves[0], generate_kwargs={"max_new_tokens": 4})["text"]]
        assert got == want, backend
    assert len({w for w in want if w}) >= 2, "transcripts too alike: the test proves little"
    assert all(w == w.upper() for w in want)  # the checkpoint's do_upper_case, applied after the converted decode


@pytest.mark.parametrize("key, value", [("feature_size", 80), ("frame_length", 50)])
def test_feature_setting_it_cannot_reproduce_stops_the_export(tmp_path, reference_dir, key, value):
    assert_setting_refused(reference_dir("speech2text-tiny-random"), tmp_path, TASK, key, value)

