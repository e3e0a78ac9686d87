"""DETR-family image processor (DetrImageProcessor): resize by shortest/longest edge, rescale,
normalize, pad bottom/right to the batch's largest image, pixel_mask (1 = real pixel)."""
from __future__ import annotations

import numpy as np

from ..errors import UsageError
from .image import PROCESSORS, _resize


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
        out = []
        for img in images:
            if c.get("do_resize", True):
                img = _resize(img, *self.target_size(*img.shape[:2]), int(c.get("resample", 2)))
            x = img.astype(np.float32)
            if c.get("do_rescale", True):
                x = (img.astype(np.float64) * c.get("rescale_factor", 1 / 255)).astype(np.float32)
            if c.get("do_normalize", True):
                mean = np.asarray(c.get("image_mean", [0.485, 0.456, 0.406]), dtype=np.float32)
                std = np.asarray(c.get("image_std", [0.229, 0.224, 0.225]), dtype=np.float32)
                x = ((x - mean) / std).astype(np.float32)
            out.append(x.transpose(2, 0, 1))
        hmax, wmax = max(x.shape[1] for x in out), max(x.shape[2] for x in out)
        pixels = np.zeros((len(out), 3, hmax, wmax), dtype=np.float32)
        mask = np.zeros((len(out), hmax, wmax), dtype=np.int64)
        for i, x in enumerate(out):
            pixels[i, :, :x.shape[1], :x.shape[2]] = x
            mask[i, :x.shape[1], :x.shape[2]] = 1
        return {"pixel_values": pixels, "pixel_mask": mask}


PROCESSORS.update({"DetrImageProcessor": DetrProcessor, "DetrImageProcessorFast": DetrProcessor,
                   "ConditionalDetrImageProcessor": DetrProcessor, "DeformableDetrImageProcessor": DetrProcessor})
