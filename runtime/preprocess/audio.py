"""Audio loading and Wav2Vec2-style feature extraction (NumPy + the standard library's `wave`).

Not done yet (see the issue): a band-limited resampler (audio at another rate is refused with a clear
message for now), 24-bit / float WAV files, Whisper's log-mel front end."""
from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

from ..errors import UsageError

_PCM = {1: (np.uint8, 128.0, 128.0), 2: (np.int16, 0.0, 32768.0), 4: (np.int32, 0.0, 2147483648.0)}


def _decode_wav(data: bytes, name: str) -> tuple[np.ndarray, int]:
    if not data:
        raise UsageError(f"{name} is empty (0 bytes); give a WAV file.")
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise UsageError(f"{name} is not a WAV file. Convert it: `ffmpeg -i input -ar 16000 -ac 1 out.wav`.")
    try:
        with wave.open(io.BytesIO(data)) as w:
            width, channels, rate, frames = w.getsampwidth(), w.getnchannels(), w.getframerate(), w.readframes(w.getnframes())
    except (wave.Error, EOFError) as e:
        raise UsageError(f"{name} could not be decoded ({e}). Only PCM WAV is read; convert with "
                         "`sox in.wav -e signed -b 16 out.wav`.") from None
    if width not in _PCM:
        raise UsageError(f"{name} has {8 * width}-bit samples; 8, 16 and 32-bit PCM are read. Convert with "
                         "`sox in.wav -b 16 out.wav`.")
    dtype, offset, scale = _PCM[width]
    samples = (np.frombuffer(frames, dtype=dtype).astype(np.float64) - offset) / scale
    samples = samples.reshape(-1, channels).mean(axis=1)  # to mono, as the transformers pipelines do
    return samples.astype(np.float32), rate


def load_audio(x, sampling_rate: int | None = None, target_rate: int = 16000) -> np.ndarray:
    """A WAV path/bytes, an array (at `sampling_rate`, default target_rate), or {"raw"|"array", "sampling_rate"}
    -> float32 mono waveform at target_rate."""
    if isinstance(x, dict):
        arr = x.get("raw", x.get("array"))
        if arr is None or "sampling_rate" not in x:
            raise UsageError('An audio dict needs "raw" (or "array") and "sampling_rate" keys.')
        x, sampling_rate = arr, x["sampling_rate"]
    if isinstance(x, (str, Path)):
        path = Path(x)
        if not path.is_file():
            raise UsageError(f"Audio file '{x}' does not exist.")
        wave_, sampling_rate = _decode_wav(path.read_bytes(), f"'{x}'")
    elif isinstance(x, (bytes, bytearray)):
        wave_, sampling_rate = _decode_wav(bytes(x), "the given bytes")
    elif isinstance(x, np.ndarray):
        if x.ndim == 2:  # (channels, samples) or (samples, channels): average the short axis
            x = x.mean(axis=0 if x.shape[0] < x.shape[1] else 1)
        if x.ndim != 1:
            raise UsageError(f"An audio array must be 1-D (or 2-D with channels); got shape {x.shape}.")
        wave_ = x.astype(np.float32)
    else:
        raise UsageError(f"Expected audio (WAV path, bytes, numpy array or dict), got {type(x).__name__}.")
    if wave_.size == 0:
        raise UsageError("The audio is empty (0 samples).")
    if not np.isfinite(wave_).all():
        raise UsageError("The audio contains NaN or infinite samples.")
    rate = sampling_rate or target_rate
    if rate != target_rate:
        raise UsageError(f"The audio is sampled at {rate} Hz; the model expects {target_rate} Hz. Resample it "
                         f"(e.g. `sox in.wav -r {target_rate} out.wav`); built-in resampling is not available yet.")
    return wave_


def wav2vec2_features(waves: list[np.ndarray], config: dict) -> dict[str, np.ndarray]:
    """Like Wav2Vec2FeatureExtractor: zero-mean/unit-variance per clip (over its own samples), padded
    with padding_value, attention_mask when the model wants one."""
    n = max(len(w) for w in waves)
    values = np.full((len(waves), n), config.get("padding_value", 0.0), dtype=np.float32)
    mask = np.zeros((len(waves), n), dtype=np.int64)
    for i, w in enumerate(waves):
        x = w.astype(np.float32)
        if config.get("do_normalize", True):
            x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
        values[i, :len(x)] = x
        mask[i, :len(x)] = 1
    out = {"input_values": values}
    if config.get("return_attention_mask", False):
        out["attention_mask"] = mask
    return out


# -- Whisper log-mel ---------------------------------------------------------------------------------
def _hz_to_mel(f):
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    mel = 3.0 * f / 200.0
    log = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log, mel)


def _mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    lin = 200.0 * m / 3.0
    log = 1000.0 * np.exp(np.log(6.4) / 27.0 * (m - 15.0))
    return np.where(m >= 15.0, log, lin)


def mel_filters(n_freq: int, n_mels: int, rate: int, f_min: float = 0.0, f_max: float = 8000.0) -> np.ndarray:
    """[n_freq, n_mels] triangular filters, Slaney-normalised (librosa / transformers' mel_filter_bank)."""
    mel_pts = np.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2)
    hz_pts = _mel_to_hz(mel_pts)
    fft_freqs = np.linspace(0, rate // 2, n_freq)
    diff = np.diff(hz_pts)
    slopes = hz_pts[None, :] - fft_freqs[:, None]
    down = -slopes[:, :-2] / diff[:-1]
    up = slopes[:, 2:] / diff[1:]
    bank = np.maximum(0.0, np.minimum(down, up))
    return bank * (2.0 / (hz_pts[2:n_mels + 2] - hz_pts[:n_mels]))[None, :]


def whisper_features(waves: list[np.ndarray], config: dict) -> dict[str, np.ndarray]:
    """WhisperFeatureExtractor: pad/trim to 30 s, centred STFT (periodic Hann, reflect padding), power
    spectrum, Slaney mel filters, log10 (floor 1e-10), 8-decade dynamic range, (x + 4) / 4."""
    n_fft, hop = int(config.get("n_fft", 400)), int(config.get("hop_length", 160))
    n_samples = int(config.get("n_samples", 480000))
    n_mels, rate = int(config.get("feature_size", 80)), int(config.get("sampling_rate", 16000))
    filters = mel_filters(1 + n_fft // 2, n_mels, rate)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    out = []
    for w in waves:
        x = np.zeros(n_samples, dtype=np.float64)
        x[:min(len(w), n_samples)] = w[:n_samples]
        x = np.pad(x, n_fft // 2, mode="reflect")
        frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
        power = np.abs(np.fft.rfft(frames * window, n=n_fft)) ** 2  # [frames, freq]
        mel = np.maximum(1e-10, power @ filters).T  # [mels, frames]
        log = np.log10(mel)[:, :-1]
        log = np.maximum(log, log.max() - 8.0)
        out.append(((log + 4.0) / 4.0).astype(np.float32))
    return {"input_features": np.stack(out)}
