"""Audio front ends: decoding (WAV in every PCM / float layout), band-limited resampling, the model
feature extractors (Wav2Vec2 normalisation, Whisper log-mel) and 30-second chunking for long audio.

NumPy and the standard library only. `soundfile`, when installed, additionally decodes non-WAV
containers (FLAC, Ogg, MP3, AIFF); WAV never needs it, so results do not depend on its presence.
"""
from __future__ import annotations

import io
import math
import os
import struct
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import UnsupportedError, UsageError

_CONVERT = "`ffmpeg -i in.ext -ar 16000 -ac 1 out.wav`"
_TO_PCM = "convert to PCM with `sox in.wav -e signed -b 16 out.wav`"
_BLOCK = 1 << 18  # samples per decode / resample block: bounds temporaries for hour-long audio


# -- WAV decoding ------------------------------------------------------------------------------------
# Samples are scaled like soundfile / libsndfile: integers by their container's full scale (so a 20-bit
# stream in 24-bit containers reads the same as libsndfile reads it), floats as stored, never clipped.
def _pcm_int(raw: np.ndarray, dtype: str, scale: float) -> np.ndarray:
    return raw.view(dtype).astype(np.float32) * np.float32(1.0 / scale)


def _pcm_u8(raw: np.ndarray) -> np.ndarray:
    return (raw.astype(np.float32) - 128.0) * np.float32(1.0 / 128.0)


def _pcm_s24(raw: np.ndarray) -> np.ndarray:
    # NumPy has no 24-bit type: put each 3-byte sample in the high bytes of an int32, which also sign-extends.
    wide = np.zeros((raw.size // 3, 4), np.uint8)
    wide[:, 1:] = raw.reshape(-1, 3)
    return _pcm_int(wide.reshape(-1), "<i4", 2.0**31)


def _ieee_float(raw: np.ndarray, dtype: str) -> np.ndarray:
    return raw.view(dtype).astype(np.float32)


_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE

# (format tag, bytes per sample) -> decoder of little-endian sample bytes to float32.
_CODECS: dict[tuple[int, int], Callable[[np.ndarray], np.ndarray]] = {
    (_PCM, 1): _pcm_u8,
    (_PCM, 2): partial(_pcm_int, dtype="<i2", scale=2.0**15),
    (_PCM, 3): _pcm_s24,
    (_PCM, 4): partial(_pcm_int, dtype="<i4", scale=2.0**31),
    (_FLOAT, 4): partial(_ieee_float, dtype="<f4"),
    (_FLOAT, 8): partial(_ieee_float, dtype="<f8"),
}

# Encodings seen in the wild that are refused, by name, so the message says what the file is.
_ENCODING_NAMES = {
    0x0002: "Microsoft ADPCM", 0x0006: "A-law", 0x0007: "µ-law", 0x0011: "IMA ADPCM", 0x0031: "GSM 6.10",
    0x0040: "G.721 ADPCM", 0x0050: "MPEG audio", 0x0055: "MP3", 0x0161: "WMA", 0x2000: "AC-3",
}

# Magic bytes of other containers, to name them in the error when they cannot be decoded.
_CONTAINERS = [(0, b"fLaC", "FLAC"), (0, b"OggS", "Ogg"), (0, b"ID3", "MP3"), (0, b"\xff\xfb", "MP3"),
               (0, b"\xff\xf3", "MP3"), (4, b"ftyp", "MP4/M4A"), (0, b"\x1aE\xdf\xa3", "WebM/Matroska"),
               (0, b"FORM", "AIFF"), (0, b"RIFX", "big-endian WAV (RIFX)"), (0, b"caff", "CAF")]


@dataclass(frozen=True)
class _WavFormat:
    tag: int
    channels: int
    rate: int
    block_align: int
    bits: int

    @property
    def width(self) -> int:
        """Bytes per sample: the container, which may be wider than the valid bits (20 bits in 3 bytes)."""
        return self.block_align // self.channels

    def describe(self) -> str:
        name = _ENCODING_NAMES.get(self.tag, f"format-tag 0x{self.tag:04x}")
        if self.tag == _PCM:
            name = f"{8 * self.width}-bit integer PCM"
        elif self.tag == _FLOAT:
            name = f"{8 * self.width}-bit float"
        return name


def _parse_fmt(body: bytes, name: str) -> _WavFormat:
    if len(body) < 16:
        raise UsageError(f"{name} has a truncated WAV 'fmt ' chunk ({len(body)} bytes, 16 expected); "
                         f"re-encode it: {_CONVERT}.")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == _EXTENSIBLE and len(body) >= 40:
        tag = struct.unpack("<H", body[24:26])[0]  # the sub-format GUID starts with the real format tag
    if channels == 0 or rate == 0 or block_align == 0 or block_align % channels:
        raise UsageError(f"{name} has a malformed WAV header ({channels} channels, {rate} Hz, {block_align}-byte "
                         f"frames); re-encode it: {_CONVERT}.")
    return _WavFormat(tag, channels, rate, block_align, bits)


def _wav_chunks(data: bytes, name: str) -> tuple[_WavFormat, int, int]:
    """Walks the RIFF chunks -> (format, offset of the samples, their length in bytes)."""
    fmt, pos = None, 12
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = pos + 8
        if cid == b"fmt ":
            fmt = _parse_fmt(data[body:body + size], name)
        elif cid == b"data":
            if fmt is None:
                break
            # Streamed WAVs (ffmpeg to a pipe, RF64) declare 0 or 0xFFFFFFFF; cut files declare more than they
            # hold. Like libsndfile and ffmpeg, read the samples that are there.
            if size in (0, 0xFFFFFFFF) or body + size > len(data):
                size = len(data) - body
            return fmt, body, size - size % fmt.block_align
        pos = body + size + (size & 1)  # chunks are padded to an even length
    what = "'fmt ' chunk" if fmt is None else "'data' chunk"
    raise UsageError(f"{name} is a truncated or malformed WAV file (no {what} found in {len(data)} bytes); "
                     f"re-encode it: {_CONVERT}.")


def _decode_wav(data: bytes, name: str) -> tuple[np.ndarray, int]:
    fmt, start, size = _wav_chunks(data, name)
    codec = _CODECS.get((fmt.tag, fmt.width))
    if codec is None:
        raise UsageError(f"{name} is {fmt.describe()} WAV, which is not supported: {_TO_PCM}.")
    raw = np.frombuffer(data, np.uint8, count=size, offset=start)
    frames = size // fmt.block_align
    mono = np.empty(frames, np.float32)
    step = max(1, _BLOCK // fmt.channels)
    for f0 in range(0, frames, step):  # blockwise, so no float64 copy of the whole file is ever made
        block = raw[f0 * fmt.block_align:(f0 + step) * fmt.block_align]
        mono[f0:f0 + step] = _downmix(codec(block).reshape(-1, fmt.channels), axis=1)
    return mono, fmt.rate


def _container_name(data: bytes) -> str | None:
    return next((label for at, magic, label in _CONTAINERS if data[at:at + len(magic)] == magic), None)


def _decode_other(data: bytes, name: str) -> tuple[np.ndarray, int]:
    """Non-WAV data: soundfile when installed (FLAC, Ogg, MP3, AIFF...), else a message naming the format."""
    kind = _container_name(data)
    try:
        import soundfile
    except ImportError:
        soundfile = None
    if soundfile is not None:
        try:
            frames, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
            return _downmix(frames, axis=1), int(rate)
        except Exception:  # noqa: BLE001 - libsndfile says "unknown format" in many ways; our message is clearer
            pass
    if kind is None:
        head = data[:8]
        raise UsageError(f"{name} is not a WAV file (it starts with {head!r}, not b'RIFF....WAVE'). "
                         f"Give a WAV file, or convert the audio: {_CONVERT}.")
    hint = " (install `soundfile` to read it directly)" if soundfile is None else ""
    raise UsageError(f"{name} is {kind} audio, not a WAV file{hint}. Convert it: {_CONVERT}.")


def _decode_bytes(data: bytes, name: str) -> tuple[np.ndarray, int]:
    if not data:
        raise UsageError(f"{name} is empty (0 bytes); give a WAV file.")
    if data[:4] in (b"RIFF", b"RF64") and data[8:12] == b"WAVE":
        return _decode_wav(data, name)
    if data[:4] in (b"RIFF", b"RF64") and len(data) < 12:
        raise UsageError(f"{name} is a truncated WAV file ({len(data)} bytes, the header alone is 12); "
                         f"re-encode it: {_CONVERT}.")
    return _decode_other(data, name)


# -- load_audio -----------------------------------------------------------------------------------------
def _downmix(x: np.ndarray, axis: int) -> np.ndarray:
    """Averages channels, as transformers' pipelines do (ffmpeg `-ac 1`, or `mean(axis=0)` for arrays)."""
    if x.shape[axis] == 1:
        return np.take(x, 0, axis=axis).astype(np.float32)
    return x.mean(axis=axis, dtype=np.float32)


# Integer arrays are scaled like the same samples in a WAV file: (x - offset) / full scale.
_INT_ARRAYS = {np.dtype(np.uint8): (128.0, 2.0**7), np.dtype(np.int8): (0.0, 2.0**7),
               np.dtype(np.int16): (0.0, 2.0**15), np.dtype(np.int32): (0.0, 2.0**31)}


def _array_to_mono(x: np.ndarray) -> np.ndarray:
    if x.dtype in _INT_ARRAYS:
        offset, scale = _INT_ARRAYS[x.dtype]
        x = (x.astype(np.float32) - np.float32(offset)) * np.float32(1.0 / scale)
    elif x.dtype.kind != "f":
        raise UsageError(f"An audio array of dtype {x.dtype} is not audio samples; give float32 in [-1, 1] "
                         f"(or int16 / int32 / uint8 PCM).")
    if x.ndim == 2:
        # transformers takes (channels, samples); soundfile gives (samples, channels): channels is the short axis.
        return _downmix(x, axis=0 if x.shape[0] <= x.shape[1] else 1)
    if x.ndim != 1:
        raise UsageError(f"An audio array must be 1-D (samples) or 2-D (with channels); got shape {x.shape}.")
    return x.astype(np.float32, copy=False)


def _read_path(x):
    path = Path(x)
    if path.is_dir():
        raise UsageError(f"Audio file '{x}' is a directory; give a WAV file.")
    if not path.exists() and not path.is_symlink():
        raise UsageError(f"Audio file '{x}' does not exist.")
    # other failures (permissions, a symlink loop) are OSErrors the CLI turns into one line naming path and fix
    return _decode_bytes(path.read_bytes(), f"'{x}'")


def _read_bytes(x):
    return _decode_bytes(bytes(x), "The given data")


def _read_dict(x):
    arr = x.get("raw", x.get("array"))
    if arr is None or "sampling_rate" not in x:
        raise UsageError(f'An audio dict needs "raw" (or "array") and "sampling_rate" keys; got {sorted(x)}.')
    return _array_to_mono(np.asarray(arr)), _check_rate(x["sampling_rate"], 'the dict\'s "sampling_rate"')


def _read_array(x):
    return _array_to_mono(x), None


# Input kinds, first match wins; each reader returns (mono float32, the rate it knows or None).
_READERS: list[tuple[tuple[type, ...], Callable]] = [
    ((str, os.PathLike), _read_path),
    ((bytes, bytearray, memoryview), _read_bytes),
    ((dict,), _read_dict),
    ((np.ndarray,), _read_array),
]


def _check_samples(wave: np.ndarray) -> np.ndarray:
    if wave.size == 0:
        raise UsageError("The audio is empty (0 samples); give at least one sample.")
    for b0 in range(0, wave.size, _BLOCK):  # blockwise: no mask as long as an hour of audio
        if not np.isfinite(wave[b0:b0 + _BLOCK]).all():
            bad = ~np.isfinite(wave)
            raise UsageError(f"The audio contains NaN or infinite samples ({int(bad.sum())}, first at sample "
                             f"{int(bad.argmax())}); fix or drop them before inference.")
    return wave


def load_audio(x: Any, sampling_rate: int | None = None, target_rate: int | None = None):
    """A WAV path or bytes, a numpy array (at `sampling_rate`), or {"raw"|"array": array, "sampling_rate": int}
    (as transformers pipelines accept) -> (float32 mono waveform, its rate). Channels are averaged.

    `target_rate` (the form runtime/pipelines/audio.py calls): returns only the waveform, resampled to
    target_rate; an array without `sampling_rate` is taken to be at target_rate, as transformers pipelines
    assume. Deprecated in favour of `resample(*load_audio(x, sampling_rate), target_rate)`."""
    reader = next((read for kinds, read in _READERS if isinstance(x, kinds)), None)
    if reader is None:
        raise UsageError(f"Expected audio (WAV path, bytes, numpy array or dict), got {type(x).__name__}.")
    wave, known = reader(x)
    wave = _check_samples(wave)
    given = None if sampling_rate is None else _check_rate(sampling_rate, "sampling_rate")
    if known is not None and given is not None and given != known:
        raise UsageError(f"sampling_rate={sampling_rate} was given, but the audio says it is at {known} Hz; "
                         "drop sampling_rate (the file or dict already carries it).")
    rate = known or given or (target_rate and _check_rate(target_rate, "target_rate"))
    if rate is None:
        raise UsageError("A numpy audio array needs its sampling_rate, e.g. load_audio(array, sampling_rate=16000).")
    if target_rate is None:
        return wave, rate
    return resample(wave, rate, target_rate)


# -- resampling -------------------------------------------------------------------------------------------
def _check_rate(rate, what: str) -> int:
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer, float)) or rate <= 0 or rate != int(rate):
        raise UsageError(f"{what} must be a positive whole number of Hz, got {rate!r}.")
    return int(rate)


@lru_cache(maxsize=16)
def _polyphase_filter(up: int, down: int) -> np.ndarray:
    """The low-pass FIR of scipy.signal.resample_poly (Kaiser window, beta 5, 10 zero crossings per side,
    cut-off at the lower Nyquist) split into `up` phases: row p holds taps p, p + up, ... in reverse order,
    so that one phase is a dot product with consecutive input samples."""
    max_rate = max(up, down)
    half = 10 * max_rate
    n = np.arange(2 * half + 1) - half
    taps = np.sinc(n / max_rate) * np.kaiser(2 * half + 1, 5.0)
    taps *= up / taps.sum()  # unity gain at DC after the `up`-fold zero stuffing
    k = -(-taps.size // up)
    padded = np.zeros(up * k)
    padded[:taps.size] = taps
    phases = padded.reshape(k, up).T[:, ::-1].copy()
    phases.flags.writeable = False
    return phases


def _input_window(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """x[lo:hi] in float64, zeros outside x: the filter sees silence before and after the signal."""
    out = np.zeros(hi - lo)
    a, b = max(lo, 0), min(hi, x.size)
    if a < b:
        out[a - lo:b - lo] = x[a:b]
    return out


def _resample_block(x: np.ndarray, m0: int, count: int, up: int, down: int, phases: np.ndarray) -> np.ndarray:
    """Outputs m0 .. m0+count-1 (m0 a multiple of `up`). Output m sits at t = m*down + half on the
    `up`-times-upsampled grid; outputs `up` apart use the same phase and inputs `down` apart, so each
    phase is one strided matrix-vector product."""
    k = phases.shape[1]
    half = 10 * max(up, down)  # the filter's centre tap, as designed in _polyphase_filter
    lo = (m0 * down + half) // up - (k - 1)
    hi = ((m0 + count - 1) * down + half) // up + 1
    windows = np.lib.stride_tricks.sliding_window_view(_input_window(x, lo, hi), k)
    y = np.empty(count)
    for r in range(min(up, count)):
        t = (m0 + r) * down + half
        rows = windows[t // up - (k - 1) - lo::down][:len(range(r, count, up))]
        y[r::up] = rows @ phases[t % up]
    return y


def resample(wave: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Band-limited resampling (polyphase windowed sinc), equal to scipy.signal.resample_poly(wave, up, down)
    with up/down = target_sr/orig_sr in lowest terms; ceil(n * up / down) float32 samples. Its transition
    band straddles the lower Nyquist: -0.7 dB at 0.9x, -6 dB at 1x, below -55 dB from 1.2x on. Works in
    blocks, so memory beyond the output stays bounded for hours of audio."""
    orig_sr, target_sr = _check_rate(orig_sr, "orig_sr"), _check_rate(target_sr, "target_sr")
    x = np.asarray(wave)
    if x.ndim != 1:
        raise UsageError(f"resample expects a 1-D (mono) waveform, got shape {x.shape}; use load_audio first.")
    g = math.gcd(orig_sr, target_sr)
    up, down = target_sr // g, orig_sr // g
    if up == down:
        return x.astype(np.float32, copy=True)
    phases = _polyphase_filter(up, down)
    n_out = -(-x.size * up // down)
    out = np.empty(n_out, np.float32)
    block = up * max(1, _BLOCK // up)
    for m0 in range(0, n_out, block):
        count = min(block, n_out - m0)
        out[m0:m0 + count] = _resample_block(x, m0, count, up, down, phases)
    return out


# -- Wav2Vec2 -------------------------------------------------------------------------------------------------
def wav2vec2_features(waves: list[np.ndarray], config: dict,
                      return_attention_mask: bool | None = None) -> dict[str, np.ndarray]:
    """Wav2Vec2FeatureExtractor(waves, padding=True): pad to the longest clip with padding_value, then
    zero-mean / unit-variance per clip (epsilon 1e-7, float32) when do_normalize. attention_mask (int64,
    the models' input type) when return_attention_mask (default: the config's, False if absent)."""
    if config.get("padding_side", "right") != "right":
        raise UnsupportedError(f"padding_side={config['padding_side']!r}: Wav2Vec2 inputs are padded on the right "
                               "(transformers' own normalisation assumes it).")
    want_mask = config.get("return_attention_mask", False) if return_attention_mask is None else return_attention_mask
    pad_value = np.float32(config.get("padding_value", 0.0))
    width = max(len(w) for w in waves)
    values = np.full((len(waves), width), pad_value, dtype=np.float32)
    mask = np.zeros((len(waves), width), dtype=np.int64)
    for i, w in enumerate(waves):
        values[i, :len(w)] = w
        mask[i, :len(w)] = 1
        if config.get("do_normalize", True):
            # Without an attention mask transformers normalises over the padded row, padding included;
            # the same arithmetic in the same dtype keeps the results identical.
            span = len(w) if want_mask else width
            row = values[i]
            normed = (row - row[:span].mean()) / np.sqrt(row[:span].var() + 1e-7)
            normed[span:] = pad_value
            values[i] = normed
    out: dict[str, np.ndarray] = {"input_values": values}
    if want_mask:
        out["attention_mask"] = mask
    return out


# -- Whisper log-mel -----------------------------------------------------------------------------------------
def _hz_to_mel(f):
    """Slaney mel scale: linear below 1 kHz, logarithmic above (transformers' hertz_to_mel)."""
    f = np.asarray(f, dtype=np.float64)
    log = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) * (27.0 / np.log(6.4))
    return np.where(f >= 1000.0, log, 3.0 * f / 200.0)


def _mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    log = 1000.0 * np.exp(np.log(6.4) / 27.0 * (m - 15.0))
    return np.where(m >= 15.0, log, 200.0 * m / 3.0)


@lru_cache(maxsize=8)
def mel_filters(n_freq: int, n_mels: int, rate: int, f_min: float = 0.0, f_max: float = 8000.0) -> np.ndarray:
    """[n_freq, n_mels] triangular filters with Slaney area normalisation: transformers'
    mel_filter_bank(norm="slaney", mel_scale="slaney") and librosa's default. Read-only (cached)."""
    hz = _mel_to_hz(np.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2))
    fft_freqs = np.linspace(0, rate // 2, n_freq)
    slopes = hz[None, :] - fft_freqs[:, None]
    down = -slopes[:, :-2] / np.diff(hz)[:-1]
    up = slopes[:, 2:] / np.diff(hz)[1:]
    bank = np.maximum(0.0, np.minimum(down, up)) * (2.0 / (hz[2:] - hz[:-2]))[None, :]
    bank.flags.writeable = False
    return bank


@dataclass(frozen=True)
class _WhisperSpec:
    n_fft: int
    hop: int
    n_samples: int
    n_mels: int
    rate: int
    padding_value: float
    dither: float

    @classmethod
    def from_config(cls, c: dict) -> "_WhisperSpec":
        rate = int(c.get("sampling_rate", 16000))
        n_samples = int(c.get("n_samples") or int(c.get("chunk_length", 30)) * rate)
        return cls(int(c.get("n_fft", 400)), int(c.get("hop_length", 160)), n_samples, int(c.get("feature_size", 80)),
                   rate, float(c.get("padding_value", 0.0)), float(c.get("dither", 0.0)))


def _log_mel(wave: np.ndarray, s: _WhisperSpec) -> np.ndarray:
    x = np.full(s.n_samples, s.padding_value, dtype=np.float32)  # pad / cut to the model's 30-second window
    n = min(len(wave), s.n_samples)
    x[:n] = wave[:n]
    x = np.pad(x, s.n_fft // 2, mode="reflect").astype(np.float64)  # centred frames
    frames: np.ndarray = np.lib.stride_tricks.sliding_window_view(x, s.n_fft)[::s.hop]
    if s.dither:
        frames = frames + s.dither * np.random.randn(*frames.shape)
    window = np.hanning(s.n_fft + 1)[:-1]  # periodic Hann
    # transformers keeps the spectrum in complex64 before taking |.|^2: round the same way.
    spectrum = np.fft.rfft(frames * window, n=s.n_fft).astype(np.complex64)
    power = np.abs(spectrum, dtype=np.float64) ** 2  # [frames, freq]
    mel = np.maximum(1e-10, mel_filters(1 + s.n_fft // 2, s.n_mels, s.rate).T @ power.T)
    log = np.log10(mel)[:, :-1]  # Whisper drops the last frame: 3000 frames for 30 s
    log = np.maximum(log, log.max() - 8.0)  # keep 8 decades below the loudest bin
    return ((log + 4.0) / 4.0).astype(np.float32)


def whisper_features(waves: list[np.ndarray], config: dict) -> dict[str, np.ndarray]:
    """WhisperFeatureExtractor (its NumPy path): {"input_features": float32 [batch, n_mels, n_samples / hop]}.
    Each clip is padded with padding_value or cut to n_samples (30 s) first; chunk longer audio with
    `chunk_audio`."""
    spec = _WhisperSpec.from_config(config)
    return {"input_features": np.stack([_log_mel(np.asarray(w, np.float32), spec) for w in waves])}


# -- chunking long audio -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class AudioChunk:
    """One window of a long clip. `wave` is a view into the input; stride_left / stride_right are the samples
    at each edge that overlap a neighbour (0 at the clip's ends), transformers' ASR `stride`."""

    wave: np.ndarray
    start: int
    stride_left: int
    stride_right: int
    is_last: bool

    @property
    def stride(self) -> tuple[int, int, int]:
        """transformers' (chunk length, left, right)."""
        return len(self.wave), self.stride_left, self.stride_right


def chunk_audio(wave: np.ndarray, rate: int, chunk_s: float = 30.0, stride_s: float | tuple[float, float] | None = None,
                align_to: int = 1) -> list[AudioChunk]:
    """Overlapping windows like transformers' ASR pipeline with chunk_length_s / stride_length_s (default
    chunk_s / 6 on each side); lengths are rounded to multiples of `align_to` (a CTC model's
    inputs_to_logits_ratio). A final chunk holding only overlap is skipped, as chunk_iter does."""
    left_s, right_s = (chunk_s / 6, chunk_s / 6) if stride_s is None else \
        (stride_s, stride_s) if isinstance(stride_s, (int, float)) else stride_s
    chunk, left, right = (int(round(s * rate / align_to) * align_to) for s in (chunk_s, left_s, right_s))
    if chunk <= 0 or left < 0 or right < 0 or chunk <= left + right:
        raise UsageError(f"chunk_s={chunk_s} must be longer than both strides together ({left_s} + {right_s} s).")
    n, step, chunks = len(wave), chunk - left - right, []
    for start in range(0, n, step):
        end = start + chunk
        is_last = end >= n
        piece = wave[start:end]
        stride_left = 0 if start == 0 else left
        if len(piece) > stride_left:
            chunks.append(AudioChunk(piece, start, stride_left, 0 if is_last else right, is_last))
        if is_last:
            break
    return chunks
