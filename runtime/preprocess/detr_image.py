"""DETR-family image processor (DetrImageProcessor): resize by shortest/longest edge, rescale,
normalize, pad bottom/right to the batch's largest image, pixel_mask (1 = real pixel)."""
from __future__ import annotations

import numpy as np

from ..errors import UsageError
from .image_ops import rescale_normalize, resize_as_configured

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def size_with_aspect_ratio(h: int, w: int, size: int, max_size: int | None) -> tuple[int, int]:
    """transformers' get_size_with_aspect_ratio, rounding included."""
    raw = None
    if max_size is not None:
        lo, hi = float(min(h, w)), float(max(h, w))
        if hi / lo * size > max_size:
            raw = max_size * lo / hi
            size = int(round(raw))
    if (h <= w and h == size) or (w <= h and w == size):
        return h, w
    if w < h:
        return (int(raw * h / w) if raw is not None else int(size * h / w)), size
    return size, (int(raw * w / h) if raw is not None else int(size * w / h))


def pad_with_mask(out: list[np.ndarray], size: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """Zero-pad channels-first images bottom/right to `size` (default: the batch's largest), with
    pixel_mask 1 on real pixels — DETR's and MaskFormer's batching."""
    hmax, wmax = size or (max(x.shape[1] for x in out), max(x.shape[2] for x in out))
    pixels = np.zeros((len(out), 3, hmax, wmax), dtype=np.float32)
    mask = np.zeros((len(out), hmax, wmax), dtype=np.int64)
    for i, x in enumerate(out):
        pixels[i, :, :x.shape[1], :x.shape[2]] = x
        mask[i, :x.shape[1], :x.shape[2]] = 1
    return {"pixel_values": pixels, "pixel_mask": mask}


class DetrProcessor:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        size = cfg.get("size") or {"shortest_edge": 800, "longest_edge": 1333}
        if isinstance(size, int):
            size = {"shortest_edge": size, "longest_edge": cfg.get("max_size", 1333)}
        self.size = size

    def target_size(self, h: int, w: int) -> tuple[int, int]:
        s = self.size
        if "shortest_edge" in s:
            return size_with_aspect_ratio(h, w, s["shortest_edge"], s.get("longest_edge"))
        if "height" in s and "width" in s:
            return s["height"], s["width"]
        raise UsageError(f"Unsupported DETR size spec {s}; expected shortest_edge/longest_edge or height/width.")

    def __call__(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        c = self.cfg
        if c.get("do_pad", True) is False and len({i.shape[:2] for i in images}) > 1:
            raise UsageError("Images of different sizes need do_pad=true in preprocessor_config.json.")
        out = [rescale_normalize(resize_as_configured(img, c, self.target_size, 2), c, IMAGENET_MEAN, IMAGENET_STD)
               for img in images]
        return pad_with_mask(out)
