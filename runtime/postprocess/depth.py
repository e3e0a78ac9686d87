"""Depth post-processing in NumPy, as transformers' post_process_depth_estimation and its pipeline's
picture, row block by row block so temporaries stay small next to the H x W result."""
from __future__ import annotations

import numpy as np

from .interpolate import Resizer

ROW_BLOCK = 256  # output rows computed at once: temporaries stay small next to the H x W result


def upsample_depth(pred: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[h, w] -> [H, W] float32, bicubic like interpolate(mode="bicubic", align_corners=False)."""
    resize = Resizer(pred.shape, size, "bicubic")
    out = np.empty(size, np.float32)
    for r in range(0, size[0], ROW_BLOCK):
        out[r:r + ROW_BLOCK] = resize(pred, r, min(r + ROW_BLOCK, size[0]))
    return out


def depth_image(depth: np.ndarray):
    """The pipeline's 8-bit picture: (d - min) / (max - min) * 255 in float32, truncated. A constant map
    (e.g. a 1x1 image) has no range: it becomes black instead of transformers' NaN cast."""
    from PIL import Image

    lo, hi = depth.min(), depth.max()
    gray = np.zeros(depth.shape, np.uint8)
    if hi > lo:
        for r in range(0, depth.shape[0], ROW_BLOCK):
            gray[r:r + ROW_BLOCK] = ((depth[r:r + ROW_BLOCK] - lo) / (hi - lo) * np.float32(255)).astype(np.uint8)
    return Image.fromarray(gray)
