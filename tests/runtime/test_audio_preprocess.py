"""Audio front ends against their references: soundfile (WAV decoding), scipy.signal.resample_poly
(resampling), Wav2Vec2FeatureExtractor and WhisperFeatureExtractor (features, transformers 4.57),
and transformers' chunk_iter (long-audio windows). Measured parity is in the assertion bounds."""
from __future__ import annotations

import io
import math
import struct
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from edgetool.runtime.errors import UsageError
from edgetool.runtime.preprocess.audio import (chunk_audio, load_audio, mel_filters, resample, wav2vec2_features,
                                               whisper_features)

sf = pytest.importorskip("soundfile")
RNG = np.random.default_rng(0)


def _wav(x: np.ndarray, rate: int = 16000, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def _signal(rate: int, seconds: float) -> np.ndarray:
    """A tone, a chirp up to 0.45 x rate and a little noise: energy across the whole band."""
    t = np.arange(int(rate * seconds)) / rate
    chirp = np.sin(2 * np.pi * (50 + 0.45 * rate / (2 * seconds) * t) * t)
    return (0.4 * np.sin(2 * np.pi * 440 * t) + 0.3 * chirp + 0.05 * RNG.standard_normal(t.size)).astype(np.float32)


# -- decoding ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["WAV", "WAVEX"])  # WAVEX: WAVE_FORMAT_EXTENSIBLE headers
@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_wav_decoding_matches_soundfile(fmt, subtype, channels):
    x = np.clip(RNG.standard_normal((3001, channels)) * 0.3, -1, 1)
    data = _wav(x, 22050, subtype, fmt)
    wave, rate = load_audio(data)
    ref, _ = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    assert rate == 22050 and wave.dtype == np.float32 and wave.shape == (3001,)
    assert np.abs(wave - ref.mean(axis=1)).max() <= 1e-7  # measured: 0 (bit-identical samples)


def test_stereo_is_the_channel_mean(tmp_path):
    left, right = _signal(16000, 0.25), _signal(16000, 0.25)[::-1]
    path = tmp_path / "stereo.wav"
    path.write_bytes(_wav(np.stack([left, right], axis=1), subtype="FLOAT"))
    mean = (left + right) / 2
    assert np.abs(load_audio(path)[0] - mean).max() < 1e-7
    assert np.abs(load_audio(str(path))[0] - mean).max() < 1e-7
    # arrays: transformers' (channels, samples) and soundfile's (samples, channels)
    assert np.abs(load_audio(np.stack([left, right]), 16000)[0] - mean).max() < 1e-7
    assert np.abs(load_audio({"raw": np.stack([left, right], axis=1), "sampling_rate": 16000})[0] - mean).max() < 1e-7


def test_eight_bit_and_integer_arrays():
    x = (np.arange(256) - 128) / 128.0
    wave, _ = load_audio(_wav(x, subtype="PCM_U8"))
    assert np.abs(wave - x).max() <= 1e-7  # unsigned 8-bit: (x - 128) / 128, like soundfile
    pcm = (x * 32767).astype(np.int16)
    assert np.abs(load_audio(pcm, 16000)[0] - pcm / 32768.0).max() < 1e-7  # scaled like the same bytes in a WAV


def _riff(*chunks: bytes) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _chunk(cid: bytes, body: bytes, size: int | None = None) -> bytes:
    return cid + struct.pack("<I", len(body) if size is None else size) + body + b"\0" * (len(body) & 1)


FMT_16_MONO = _chunk(b"fmt ", struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16))


def test_wav_chunk_walking():
    samples = np.array([0, 16384, -16384, 32767], np.int16)
    # an odd-sized chunk before 'fmt ' (padded to even), a streamed 'data' size, a chunk after 'data'
    data = _riff(_chunk(b"LIST", b"abc"), FMT_16_MONO, _chunk(b"data", samples.tobytes(), size=0xFFFFFFFF))
    assert np.allclose(load_audio(data)[0], samples / 32768.0)
    tail = _riff(FMT_16_MONO, _chunk(b"data", samples.tobytes()), _chunk(b"LIST", b"info"))
    assert np.allclose(load_audio(tail)[0], samples / 32768.0)
    cut = _riff(FMT_16_MONO, _chunk(b"data", samples.tobytes()))[:-3]  # cut mid-sample: whole frames are kept
    assert np.allclose(load_audio(cut)[0], samples[:2] / 32768.0)


def test_other_containers_use_soundfile_when_installed(monkeypatch):
    x = _signal(8000, 0.1)
    buf = io.BytesIO()
    sf.write(buf, x, 8000, format="FLAC")
    wave, rate = load_audio(buf.getvalue())
    assert rate == 8000 and np.abs(wave - x).max() < 1e-4
    monkeypatch.setitem(sys.modules, "soundfile", None)  # not installed: the format is named
    with pytest.raises(UsageError, match="FLAC audio, not a WAV file .install `soundfile`"):
        load_audio(buf.getvalue())


def _bad_inputs(tmp_path):
    good = _wav(_signal(16000, 0.1))
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not audio at all")
    nan_wav = _wav(np.array([0.0, np.nan, 0.1]), subtype="FLOAT")
    return [
        (tmp_path / "missing.wav", "does not exist"),
        (tmp_path, "is a directory"),
        (tmp_path / "empty.wav", "empty .0 bytes"),
        (tmp_path / "notes.txt", "not a WAV file .it starts with b'not audi'"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "not a WAV file"),
        (good[:6], "truncated WAV file"),
        (good[:12], "no 'fmt ' chunk"),
        (good[:28], "truncated WAV 'fmt ' chunk"),
        (good[:36], "no 'data' chunk"),
        (_riff(FMT_16_MONO, _chunk(b"data", b"")), "empty .0 samples"),
        (_wav(np.zeros(10), subtype="ALAW"),
         r"A-law WAV, which is not supported: convert to PCM with `sox in.wav -e signed"),
        (_wav(np.zeros(10), subtype="MS_ADPCM"), "Microsoft ADPCM WAV"),
        (_riff(_chunk(b"fmt ", struct.pack("<HHIIHH", 1, 1, 16000, 128000, 8, 64)), _chunk(b"data", b"\0" * 16)),
         "64-bit integer PCM WAV"),
        (_riff(_chunk(b"fmt ", struct.pack("<HHIIHH", 1, 0, 16000, 0, 0, 16)), _chunk(b"data", b"")),
         "malformed WAV header"),
        (nan_wav, "NaN or infinite samples .1, first at sample 1"),
        (np.array([0.1, np.nan, np.inf], np.float32), "NaN or infinite samples .2,"),
        (np.zeros(0, np.float32), "empty .0 samples"),
        (np.zeros((2, 3, 4), np.float32), "1-D .samples. or 2-D"),
        (np.zeros(4, np.complex64), "dtype complex64 is not audio samples"),
        ([0.0, 0.1], "got list"),
        ({"raw": np.zeros(10)}, '"sampling_rate" keys'),
        ({"array": np.zeros(10), "sampling_rate": -1}, "positive whole number"),
    ]


def test_bad_inputs_are_clear_usage_errors(tmp_path):
    for bad, match in _bad_inputs(tmp_path):
        with pytest.raises(UsageError, match=match):
            load_audio(bad, 16000 if isinstance(bad, np.ndarray) else None)


def test_sampling_rate_rules():
    with pytest.raises(UsageError, match="needs its sampling_rate"):
        load_audio(np.zeros(10, np.float32))
    with pytest.raises(UsageError, match="audio says it is at 8000 Hz"):
        load_audio(_wav(np.zeros(10), 8000), sampling_rate=16000)
    # the pipelines' form: an array without a rate is at the model's rate, as in transformers
    assert load_audio(np.zeros(10, np.float32), None, 16000).shape == (10,)


# -- resampling -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("orig,target", [(44100, 16000), (8000, 16000), (48000, 16000), (22050, 16000),
                                         (16000, 8000), (11025, 16000)])
def test_resample_matches_scipy_resample_poly(orig, target):
    from scipy.signal import resample_poly

    x = _signal(orig, 1.5)
    g = math.gcd(orig, target)
    ref = resample_poly(x.astype(np.float64), target // g, orig // g)
    ours = resample(x, orig, target)
    snr = 10 * np.log10((ref**2).sum() / ((ours - ref) ** 2).sum())
    print(f"{orig}->{target}: max diff {np.abs(ours - ref).max():.2e}, SNR {snr:.1f} dB")
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-6  # measured 3.0e-8 (SNR 152 dB): float32 rounding of the same filter
    assert snr > 130


@pytest.mark.parametrize("orig,target", [(44100, 16000), (8000, 16000), (48000, 16000), (22050, 16000)])
def test_resample_keeps_an_in_band_tone(orig, target):
    t_in, t_out = np.arange(orig) / orig, np.arange(target) / target
    ours = resample(np.sin(2 * np.pi * 1000 * t_in).astype(np.float32), orig, target)
    ideal = np.sin(2 * np.pi * 1000 * t_out)
    edge = target // 50  # the filter's start-up at the clip's ends
    assert np.abs(ours - ideal)[edge:-edge].max() < 2e-3


@pytest.mark.parametrize("orig,target", [(44100, 16000), (48000, 16000), (16000, 8000)])
@pytest.mark.parametrize("above,floor_db", [(1.2, -50), (1.5, -60)])
def test_resample_attenuates_tones_above_the_new_nyquist(orig, target, above, floor_db):
    # resample_poly's filter: -0.7 dB at 0.9 x the new Nyquist, -12 dB at 1.05 x, below -55 dB from 1.2 x on
    tone = above * target / 2
    t = np.arange(orig) / orig
    out = resample(np.sin(2 * np.pi * tone * t).astype(np.float32), orig, target)
    level_db = 10 * np.log10((out[200:-200] ** 2).mean() / 0.5)
    assert level_db < floor_db  # measured: -55 dB at 1.2 x, -65 dB at 1.5 x (filtered, not folded back)


def test_resample_identity_and_tiny_inputs():
    x = _signal(16000, 0.01)
    same = resample(x, 16000, 16000)
    assert np.array_equal(same, x) and same is not x
    assert resample(x[:80], 8000, 16000).shape == (160,)  # 10 ms
    assert resample(x[:1], 44100, 16000).shape == (1,)
    with pytest.raises(UsageError, match="positive whole number"):
        resample(x, 0, 16000)


def test_resample_memory_is_bounded():
    x = np.zeros(8000 * 120, np.float32)  # 2 minutes at 8 kHz -> 16 kHz
    tracemalloc.start()
    try:
        out = resample(x, 8000, 16000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    extra = peak - out.nbytes
    assert extra < 24e6, f"{extra / 1e6:.1f} MB of temporaries besides the output"


def test_wrong_rate_is_resampled():
    x = _signal(8000, 0.5)
    wave, rate = load_audio(_wav(x, 8000, "FLOAT"))
    at16 = resample(wave, rate, 16000)
    assert at16.shape == (8000,)
    assert np.array_equal(load_audio({"array": x, "sampling_rate": 8000}, None, 16000), at16)


def test_an_hour_loads_resamples_and_chunks():
    hour = np.zeros(16000 * 3600, np.float32)
    wave, rate = load_audio({"raw": hour, "sampling_rate": 16000})
    wave = resample(wave, rate, 16000)
    chunks = chunk_audio(wave, 16000, chunk_s=30, stride_s=5)
    step = 16000 * (30 - 5 - 5)
    assert len(chunks) == math.ceil((len(hour) - 16000 * 30) / step) + 1 == 180
    assert chunks[-1].is_last and chunks[-1].stride_right == 0 and chunks[-1].start + len(chunks[-1].wave) == len(hour)
    assert all(np.shares_memory(c.wave, wave) for c in chunks[:2])  # views, not copies


# -- chunking -----------------------------------------------------------------------------------------------
class _Passthrough:
    """Stands in for a feature extractor inside transformers' chunk_iter: returns the chunk itself."""

    sampling_rate = 16000

    def __call__(self, chunk, **_):
        return {"input_values": chunk}


@pytest.mark.parametrize("seconds,chunk_s,stride_s,align_to", [
    (100.3, 30, None, 1), (100.3, 30, 5, 1), (61, 30, (4, 2), 1), (29, 30, 5, 1), (95, 10, 2.5, 320), (60, 30, 5, 1),
])
def test_chunks_match_transformers_chunk_iter(seconds, chunk_s, stride_s, align_to):
    from transformers.pipelines.automatic_speech_recognition import chunk_iter

    wave = RNG.standard_normal(int(16000 * seconds)).astype(np.float32)
    ours = chunk_audio(wave, 16000, chunk_s, stride_s, align_to=align_to)
    # the pipeline's own arithmetic for chunk_length_s / stride_length_s
    left, right = (chunk_s / 6,) * 2 if stride_s is None else (stride_s,) * 2 if np.isscalar(stride_s) else stride_s
    chunk_len, sl, sr = (int(round(s * 16000 / align_to) * align_to) for s in (chunk_s, left, right))
    ref = list(chunk_iter(wave, _Passthrough(), chunk_len, sl, sr))
    assert len(ours) == len(ref)
    for o, r in zip(ours, ref):
        assert o.stride == r["stride"] and o.is_last == r["is_last"]
        assert np.array_equal(o.wave, r["input_values"])


def test_bad_chunking():
    with pytest.raises(UsageError, match="longer than both strides"):
        chunk_audio(np.zeros(100), 16000, chunk_s=10, stride_s=5)


# -- Wav2Vec2 ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("config", [
    {},  # transformers' defaults: no attention mask (padding then enters the statistics)
    {"return_attention_mask": True},
    {"return_attention_mask": True, "padding_value": 0.5},
    {"do_normalize": False, "return_attention_mask": True, "padding_value": -1.0},
])
def test_wav2vec2_matches_transformers(config):
    from transformers import Wav2Vec2FeatureExtractor

    fe = Wav2Vec2FeatureExtractor(**config)
    waves = [(RNG.standard_normal(n) * s + o).astype(np.float32) for n, s, o in ((16000, 0.1, 0.0), (7001, 0.5, 0.2),
                                                                                 (160, 0.01, -0.1))]
    ref = fe(waves, sampling_rate=16000, padding=True, return_tensors="np")
    ours = wav2vec2_features(waves, fe.to_dict())
    assert sorted(ours) == sorted(ref)
    assert np.abs(ours["input_values"] - ref["input_values"]).max() <= 1e-6  # measured: 0
    if "attention_mask" in ref:
        assert ours["attention_mask"].dtype == np.int64 and (ours["attention_mask"] == ref["attention_mask"]).all()
    single = wav2vec2_features(waves[1:2], fe.to_dict())["input_values"]
    assert np.abs(single - fe(waves[1], sampling_rate=16000, return_tensors="np")["input_values"]).max() <= 1e-6


# -- Whisper ------------------------------------------------------------------------------------------------------
def _whisper_signals() -> dict[str, np.ndarray]:
    t = np.arange(16000 * 30) / 16000
    return {
        "tone": (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
        "noise": (0.1 * RNG.standard_normal(t.size)).astype(np.float32),
        "silence": np.zeros(t.size, np.float32),
        "1s": _signal(16000, 1.0),
        "45s": _signal(16000, 45.0),
        "10ms": _signal(16000, 0.01),
    }


@pytest.mark.parametrize("n_mels", [80, 128])
def test_whisper_log_mel_matches_transformers(n_mels, monkeypatch):
    import transformers.models.whisper.feature_extraction_whisper as fx
    from transformers import WhisperFeatureExtractor

    fe = WhisperFeatureExtractor(feature_size=n_mels)
    assert np.abs(mel_filters(201, n_mels, 16000) - fe.mel_filters).max() <= 1e-12
    for name, wave in _whisper_signals().items():
        ours = whisper_features([wave], fe.to_dict())["input_features"]
        assert ours.shape == (1, n_mels, 3000) and ours.dtype == np.float32
        torch_path = fe(wave, sampling_rate=16000, return_tensors="np")["input_features"]
        with monkeypatch.context() as m:
            m.setattr(fx, "is_torch_available", lambda: False)
            numpy_path = fe(wave, sampling_rate=16000, return_tensors="np")["input_features"]
        d_np, d_torch = np.abs(ours - numpy_path).max(), np.abs(ours - torch_path).max()
        print(f"whisper n_mels={n_mels} {name}: max diff {d_np:.1e} (numpy path), {d_torch:.1e} (torch path)")
        assert d_np <= 1e-6, name  # measured <= 6e-8: the same arithmetic
        assert d_torch <= 1e-4, name  # measured <= 1.8e-5: torch's float32 STFT


def test_whisper_batch_is_per_clip():
    waves = [_signal(16000, 2.0), _signal(16000, 31.0)]
    batch = whisper_features(waves, {"feature_size": 80})["input_features"]
    assert batch.shape == (2, 80, 3000)
    for i, w in enumerate(waves):
        assert np.array_equal(batch[i], whisper_features([w], {"feature_size": 80})["input_features"][0])


def test_ten_ms_audio_works_everywhere():
    wave, rate = load_audio(_wav(_signal(16000, 0.01)))
    assert wave.shape == (160,) and rate == 16000
    assert wav2vec2_features([wave], {})["input_values"].shape == (1, 160)
    assert whisper_features([wave], {})["input_features"].shape == (1, 80, 3000)
    assert len(chunk_audio(wave, rate)) == 1


def test_module_imports_no_heavy_packages():
    code = ("import sys, edgetool.runtime.preprocess.audio as a, numpy as np; a.load_audio(np.zeros(8), 8000); "
            "heavy = ('torch', 'transformers', 'scipy', 'soundfile'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
