"""Bad and awkward audio through all three model kinds (audio classification, CTC, Whisper): each is a clear
UsageError or a correct result (equal to the same pipeline on the equivalent clean input, or to the
transformers reference where it accepts the input)."""
from __future__ import annotations

import numpy as np
import pytest
from wav_writer import wav_bytes as _wav

from edgetool.export.families.audio import sample_audio
from edgetool.runtime import pipeline
from edgetool.runtime.errors import UsageError

KINDS = {"classification": ("audio-classification", None, {"top_k": 2}),
         "ctc": ("automatic-speech-recognition", None, {}),
         "whisper": ("automatic-speech-recognition", "whisper-tiny-random", {"generate_kwargs": {"max_new_tokens": 4,
                                                                                              "language": "en"}})}


@pytest.fixture(scope="module", params=list(KINDS))
def kind(request, bundle_dir):
    task, ref, kw = KINDS[request.param]
    return request.param, pipeline(bundle_dir(task, reference=ref)), kw


@pytest.mark.parametrize("bad,match", [
    (np.zeros(0, np.float32), "empty"),
    (np.array([0.1, np.nan, 0.2] * 100, np.float32), "NaN"),
    (b"", "empty"),
    (b"%PDF-1.4 not audio at all", "not a WAV"),
    ({"raw": np.zeros(800, np.float32), "sampling_rate": 0}, "positive whole number"),
])
def test_bad_audio_is_a_usage_error(kind, bad, match):
    _, asr, kw = kind
    with pytest.raises(UsageError, match=match):
        asr(bad, **kw)


def test_non_audio_file(kind, tmp_path):
    _, asr, kw = kind
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is text")
    with pytest.raises(UsageError, match="not a WAV file"):
        asr(str(path), **kw)


def test_awkward_audio_gives_the_clean_result(kind):
    """Stereo = its channel mean; 8 kHz = the same clip resampled (polyphase, = scipy resample_poly);
    an 8-bit WAV = its decoded samples as an array."""
    from scipy.signal import resample_poly

    _, asr, kw = kind
    x = sample_audio()[1]
    stereo = np.stack([x, 0.5 * x])
    _same(asr(stereo, **kw), asr(stereo.mean(axis=0), **kw))
    x8k = resample_poly(x, 1, 2).astype(np.float32)
    _same(asr({"raw": x8k, "sampling_rate": 8000}, **kw), asr(resample_poly(x8k, 2, 1).astype(np.float32), **kw))
    pcm8 = (np.clip(x, -1, 1) * 127 + 128).astype(np.uint8)
    _same(asr(_wav(pcm8, width=1), **kw), asr((pcm8.astype(np.float32) - 128) / 128, **kw))


def _same(got, want) -> None:
    """Transcripts exactly; classification labels exactly and scores to float32 rounding."""
    if isinstance(got, dict):
        assert got == want
        return
    assert [r["label"] for r in got] == [r["label"] for r in want]
    assert max(abs(a["score"] - b["score"]) for a, b in zip(got, want)) < 1e-5


def test_ten_milliseconds(kind, reference_dir):
    """160 samples: a result like the reference's (classification, CTC: the transformers pipeline; Whisper:
    generate)."""
    name, asr, kw = kind
    x = (0.3 * np.random.default_rng(0).standard_normal(160)).astype(np.float32)
    if name == "whisper":
        import torch
        from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration, WhisperTokenizerFast

        path = str(reference_dir("whisper-tiny-random"))
        model = WhisperForConditionalGeneration.from_pretrained(path).eval()
        feats = WhisperFeatureExtractor.from_pretrained(path)(x, sampling_rate=16000, return_tensors="pt").input_features
        with torch.no_grad():
            ids = model.generate(feats, max_new_tokens=4, language="en")[0]
        assert asr(x, **kw)["text"] == WhisperTokenizerFast.from_pretrained(path).decode(ids, skip_special_tokens=True)
        return
    from transformers import pipeline as hf_pipeline

    task, ref, _ = KINDS[name]
    hf = hf_pipeline(task, model=str(reference_dir(ref or ("wav2vec2-tiny-classifier" if name == "classification"
                                                          else "wav2vec2-tiny-ctc"))))
    _same(asr(x, **kw), hf(x, **kw))
