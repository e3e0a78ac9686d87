"""ASTFeatureExtractor in NumPy: Kaldi-style log-mel filter banks (25 ms Hann frames every 10 ms, DC offset
removed, pre-emphasis 0.97, 512-point FFT, power spectrum, mel filters triangular in Kaldi's mel scale from
20 Hz, log with a floor), padded with zeros or cut to max_length frames, normalized as (x - mean) / (2 std).
The steps and dtypes are transformers' own NumPy path (used where torchaudio is absent), to <= 1e-4.

Speech2TextFeatureExtractor runs the same filter banks on 16-bit-scaled samples with Povey's window (Hann to
the power 0.85), then utterance-level cepstral mean and variance normalization (`speech2text_features`)."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError

FRAME, HOP, FFT = 400, 160, 512
MEL_FLOOR = 1.192092955078125e-07


def _kaldi_mel(f):
    return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def kaldi_mel_filters(n_mels: int, rate: int, f_min: float = 20.0) -> np.ndarray:
    """[FFT // 2 + 1, n_mels]: triangles in Kaldi mel space (transformers' mel_filter_bank, mel_scale="kaldi",
    triangularize_in_mel_space=True, norm=None)."""
    n_freq = FFT // 2 + 1
    mel_freqs = np.linspace(_kaldi_mel(f_min), _kaldi_mel(rate // 2), n_mels + 2)
    fft_freqs = _kaldi_mel(rate / ((n_freq - 1) * 2) * np.arange(n_freq))
    diff = np.diff(mel_freqs)
    slopes = mel_freqs[None, :] - fft_freqs[:, None]
    down, up = -slopes[:, :-2] / diff[:-1], slopes[:, 2:] / diff[1:]
    return np.maximum(np.zeros(1), np.minimum(down, up))


def fbank(wave: np.ndarray, filters: np.ndarray, window: np.ndarray | None = None, dither: float = 0.0) -> np.ndarray:
    """[frames, n_mels] float32 log-mel filter banks of one mono waveform (window: Hann, symmetric, unless given;
    dither: Gaussian noise of that scale added to each frame first, as transformers' spectrogram)."""
    x = np.asarray(wave, dtype=np.float32).astype(np.float64)
    if x.size < FRAME:
        raise UnsupportedError(f"The audio has {x.size} samples; this model needs at least {FRAME} (25 ms at 16 kHz).")
    n = 1 + (x.size - FRAME) // HOP
    frames = x[np.arange(FRAME)[None, :] + HOP * np.arange(n)[:, None]]
    if dither:
        frames = frames + dither * np.random.randn(*frames.shape)
    frames = frames - frames.mean(axis=1, keepdims=True)
    emphasized = frames.copy()
    emphasized[:, 1:] -= 0.97 * frames[:, :-1]
    emphasized[:, 0] *= 1 - 0.97
    window = np.hanning(FRAME).astype(np.float64) if window is None else window
    spec = np.fft.rfft(emphasized * window, n=FFT, axis=1).astype(np.complex64)  # transformers stores complex64
    power = np.abs(spec, dtype=np.float64) ** 2.0
    mel = np.maximum(MEL_FLOOR, power @ filters)
    return np.log(mel).astype(np.float32)


def ast_features(waves: list[np.ndarray], config: dict) -> dict[str, np.ndarray]:
    rate = int(config.get("sampling_rate", 16000))
    n_mels, max_len = int(config.get("num_mel_bins", 128)), int(config.get("max_length", 1024))
    filters = kaldi_mel_filters(n_mels, rate)
    out = np.zeros((len(waves), max_len, n_mels), dtype=np.float32)
    for i, w in enumerate(waves):
        f = fbank(w, filters)[:max_len]
        out[i, :len(f)] = f
    if config.get("do_normalize", True):
        out = ((out - config.get("mean", -4.2677393)) / (config.get("std", 4.5689974) * 2)).astype(np.float32)
    return {"input_values": out}


def speech2text_features(waves: list[np.ndarray], config: dict) -> dict[str, np.ndarray]:
    """Speech2TextFeatureExtractor on one clip at a time (the pipeline's call: no padding): {"input_features":
    float32 [1, frames, num_mel_bins]} after utterance CMVN (do_ceptral_normalize, normalize_means,
    normalize_vars)."""
    if len(waves) != 1:
        raise UnsupportedError("Speech2Text features are computed one clip at a time (no padding).")
    rate, n_mels = int(config.get("sampling_rate", 16000)), int(config.get("num_mel_bins", 80))
    window = np.power(np.hanning(FRAME), 0.85)  # window_function(400, "povey", periodic=False)
    wave = np.asarray(waves[0], dtype=np.float32) * (2**15)  # Kaldi works on 16-bit integer magnitudes
    x = fbank(wave, kaldi_mel_filters(n_mels, rate), window, float(config.get("dither", 0.0)))
    if config.get("do_ceptral_normalize", True):
        if config.get("normalize_vars", True) and len(x) < 2:
            raise UnsupportedError(f"The audio has {wave.size} samples: one 25 ms frame, whose variance is 0 "
                                   "(transformers answers NaN); give at least 560 samples (35 ms at 16 kHz).")
        if config.get("normalize_means", True):
            x = np.subtract(x, x.mean(axis=0))
        if config.get("normalize_vars", True):
            x = np.divide(x, x.std(axis=0))
        x = x.astype(np.float32)
    return {"input_features": x[None]}
