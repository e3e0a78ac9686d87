"""WAV files for tests, written with the standard library's `wave` (independent of edgetool's decoder)."""
from __future__ import annotations

import io
import wave

import numpy as np


def wav_bytes(samples: np.ndarray, rate=16000, width=2, channels=1) -> bytes:
    """PCM samples (already in the integer dtype `width` bytes implies; interleaved when channels > 1) as a WAV."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return buf.getvalue()
