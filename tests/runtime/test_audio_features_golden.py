"""Audio feature extraction against transformers 4.57 (golden files, no torch).

tests/golden_data/audio.json / audio.npz: 16-bit clips (a tone in noise, a chirp, noise longer than the
window, a click, silence); WhisperFeatureExtractor log-mel (1-s windows, 80 and 128 mels; its default
torch path, and for 80 mels also its NumPy path) and Wav2Vec2FeatureExtractor batches (padding=True)
under four configurations.
"""
from __future__ import annotations

import numpy as np
import pytest

from golden_support import from_pcm16, golden_arrays, golden_json

from edgetool.runtime.preprocess.audio import wav2vec2_features, whisper_features

DOC = golden_json("audio")
LOG_MEL_ATOL = 1e-4  # transformers' torch path computes the STFT in float32
NUMPY_PATH_ATOL = 1e-6  # its NumPy path: the same arithmetic as the runtime


@pytest.mark.parametrize("case", DOC["whisper"], ids=lambda c: c["name"])
def test_whisper_log_mel_matches_transformers(case):
    arrays = golden_arrays("audio")
    waves = [from_pcm16(arrays[f"clip/{n}"]) for n in case["clips"]]
    ours = whisper_features(waves, case["config"])["input_features"]
    ref = arrays[case["keys"]["torch"]]
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    assert np.abs(ours - ref).max() <= LOG_MEL_ATOL
    if "numpy" in case["keys"]:
        assert np.abs(ours - arrays[case["keys"]["numpy"]]).max() <= NUMPY_PATH_ATOL
    for i, w in enumerate(waves):  # a batch is clip by clip
        assert np.array_equal(whisper_features([w], case["config"])["input_features"][0], ours[i])


@pytest.mark.parametrize("case", DOC["wav2vec2"], ids=lambda c: c["name"])
def test_wav2vec2_features_match_transformers(case):
    arrays = golden_arrays("audio")
    for run in case["runs"]:
        waves = [from_pcm16(arrays[f"wav2vec2/wave{i}"]) for i in run["waves"]]
        ours = wav2vec2_features(waves, case["config"])
        assert sorted(ours) == sorted(run["keys"])
        ref = arrays[run["keys"]["input_values"]]
        assert ours["input_values"].dtype == np.float32 and ours["input_values"].shape == ref.shape
        assert np.abs(ours["input_values"] - ref).max() <= 1e-6
        if "attention_mask" in run["keys"]:
            assert np.array_equal(ours["attention_mask"], arrays[run["keys"]["attention_mask"]])
