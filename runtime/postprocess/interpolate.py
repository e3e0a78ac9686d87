"""Separable resizing of float maps (logits, depth) like torch.nn.functional.interpolate with
align_corners=False and no antialiasing: mode "bilinear" (half-pixel centres clamped at 0) and
"bicubic" (Keys kernel, A = -0.75, border pixels repeated); "bilinear-align-corners" is
align_corners=True (ZoeDepth's processor). Weights are computed in float32 like
torch's CPU kernels, and each output row is the width pass followed by the height pass, as there."""
from __future__ import annotations

import numpy as np

A = np.float32(-0.75)


def _bilinear_taps(n_in: int, n_out: int):
    scale = np.float32(n_in) / np.float32(n_out)
    src = np.maximum(scale * (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5), np.float32(0))
    lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    lam = (src - lo.astype(np.float32)).astype(np.float32)
    return np.stack([lo, hi], 1), np.stack([np.float32(1) - lam, lam], 1)


def _cubic_taps(n_in: int, n_out: int):
    scale = np.float32(n_in) / np.float32(n_out)
    src = scale * (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5)  # not clamped
    idx = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    t = np.clip(src - idx.astype(np.float32), 0, 1).astype(np.float32)

    def near(x):  # |x| <= 1
        return ((A + 2) * x - (A + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A

    x2 = (np.float32(1) - t).astype(np.float32)  # torch: coeffs[3] from (1 - t) + 1, not 2 - t
    w = np.stack([far(t + np.float32(1)), near(t), near(x2), far(x2 + np.float32(1))], 1).astype(np.float32)
    taps = np.clip(idx[:, None] + np.arange(-1, 3)[None, :], 0, n_in - 1)
    return taps, w


def _bilinear_corner_taps(n_in: int, n_out: int):
    """Bilinear with align_corners=True: source = i * (n_in - 1) / (n_out - 1), the scale in float32."""
    scale = np.float32(n_in - 1) / np.float32(n_out - 1) if n_out > 1 else np.float32(0)
    src = scale * np.arange(n_out, dtype=np.float32)
    lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    lam = np.clip(src - lo.astype(np.float32), 0, 1).astype(np.float32)
    return np.stack([lo, hi], 1), np.stack([np.float32(1) - lam, lam], 1)


TAPS = {"bilinear": _bilinear_taps, "bicubic": _cubic_taps, "bilinear-align-corners": _bilinear_corner_taps}


def _apply(x: np.ndarray, axis: int, taps: np.ndarray, w: np.ndarray) -> np.ndarray:
    shape = [1] * x.ndim
    shape[axis] = len(taps)
    out = None
    for k in range(taps.shape[1]):
        term = x.take(taps[:, k], axis=axis) * w[:, k].reshape(shape)
        out = term if out is None else out + term
    assert out is not None, "interpolation taps have at least one column"
    return out.astype(np.float32)


class Resizer:
    """Resize [C, h, w] float maps to [C, H, W], optionally a block of output rows at a time (so a huge
    target size costs memory for the block, not for C x H x W)."""

    def __init__(self, in_hw: tuple[int, int], out_hw: tuple[int, int], mode: str = "bilinear"):
        self.rows = TAPS[mode](in_hw[0], out_hw[0])
        self.cols = TAPS[mode](in_hw[1], out_hw[1])
        self.out_hw = out_hw

    def __call__(self, x: np.ndarray, row_start: int = 0, row_stop: int | None = None) -> np.ndarray:
        stop = self.out_hw[0] if row_stop is None else row_stop
        taps, w = self.rows[0][row_start:stop], self.rows[1][row_start:stop]
        needed = np.unique(taps)  # only the source rows this block reads
        local = np.searchsorted(needed, taps)
        x = _apply(x.astype(np.float32, copy=False).take(needed, axis=-2), -1, *self.cols)
        return _apply(x, -2, local, w)


def interpolate(x: np.ndarray, size: tuple[int, int], mode: str = "bilinear") -> np.ndarray:
    """[..., h, w] -> [..., H, W] float32."""
    return Resizer(x.shape[-2:], (size[0], size[1]), mode)(x)
