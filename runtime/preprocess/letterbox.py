"""Letterbox pre-processing of YOLO-style detectors (NumPy, after Pillow decoding).

The image is scaled to fit a square canvas (aspect ratio kept), centred, and the border filled with
grey; `Letterbox.unmap` takes boxes on the canvas back to original-image pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def bilinear_resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """HxWxC -> height x width x C float32, half-pixel centres, no antialiasing (= torch's
    interpolate(mode="bilinear", align_corners=False) and OpenCV's INTER_LINEAR).

    Only the source rows/columns that the output samples are read, so a huge input costs memory
    in proportion to the output, not the input."""
    h, w = img.shape[:2]

    def taps(n_out: int, n_in: int):
        pos = np.maximum((np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5, 0.0)
        lo = np.minimum(np.floor(pos).astype(np.int64), n_in - 1)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (pos - lo).astype(np.float32)

    y0, y1, fy = taps(height, h)
    x0, x1, fx = taps(width, w)
    fx, fy = fx[None, :, None], fy[:, None, None]

    def px(ys, xs):  # rows, then columns: at most out_h x W source pixels at a time
        return img.take(ys, 0).take(xs, 1).astype(np.float32)

    top = px(y0, x0) * (1 - fx) + px(y0, x1) * fx
    bottom = px(y1, x0) * (1 - fx) + px(y1, x1) * fx
    return top * (1 - fy) + bottom * fy


@dataclass(frozen=True)
class Letterbox:
    scale: float  # canvas pixels per original pixel
    left: int
    top: int
    height: int  # original size
    width: int

    def unmap(self, boxes: np.ndarray) -> np.ndarray:
        """[N, 4] xyxy on the canvas -> original pixels, clipped to the image."""
        out = (boxes.astype(np.float64) - [self.left, self.top, self.left, self.top]) / self.scale
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, self.width)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, self.height)
        return out


def letterbox(img: np.ndarray, size: int, pad_value: int = 114) -> tuple[np.ndarray, Letterbox]:
    """uint8 HxWx3 -> (3 x size x size float32 in [0, 1], the mapping back)."""
    h, w = img.shape[:2]
    r = min(size / h, size / w)
    nh, nw = max(1, min(size, round(h * r))), max(1, min(size, round(w * r)))
    top, left = (size - nh) // 2, (size - nw) // 2
    canvas = np.full((size, size, 3), float(pad_value), dtype=np.float32)
    canvas[top:top + nh, left:left + nw] = bilinear_resize(img, nh, nw)
    return (canvas / np.float32(255.0)).transpose(2, 0, 1), Letterbox(r, left, top, h, w)
