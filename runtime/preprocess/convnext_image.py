"""ConvNextImageProcessor: below 384 px, resize the shortest edge to int(shortest_edge / crop_pct)
(aspect ratio kept, lengths truncated) and centre-crop a shortest_edge square; from 384 px up, warp to
the square. Then rescale and normalize like the other processors."""
from __future__ import annotations

import numpy as np

from ..errors import UsageError
from .dense_image import IMAGENET_STANDARD, shortest_edge_size
from .image_ops import _resize, rescale_normalize


def center_crop(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """transformers' center_crop: top/left = (orig - crop) // 2; zero-pads (centred) when the image is smaller."""
    h, w = img.shape[:2]
    top, left = (h - height) // 2, (w - width) // 2
    if top >= 0 and left >= 0:
        return img[top:top + height, left:left + width]
    nh, nw = max(height, h), max(width, w)
    canvas = np.zeros((nh, nw, img.shape[2]), dtype=img.dtype)
    pt, pl = -(-(nh - h) // 2), -(-(nw - w) // 2)  # ceil, as transformers pads
    canvas[pt:pt + h, pl:pl + w] = img
    top, left = (nh - height) // 2, (nw - width) // 2
    return canvas[top:top + height, left:left + width]


class ConvNextProcessor:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        size = cfg.get("size") or {"shortest_edge": 384}
        size = {"shortest_edge": size} if isinstance(size, int) else size
        if "shortest_edge" not in size:
            raise UsageError(f"ConvNeXT processor size must give shortest_edge, got {size}.")
        self.edge = int(size["shortest_edge"])
        self.crop_pct = float(cfg.get("crop_pct") or 224 / 256)

    def __call__(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        c, out = self.cfg, []
        for img in images:
            if c.get("do_resize", True):
                resample = int(c.get("resample", 2))
                if self.edge < 384:
                    short = int(self.edge / self.crop_pct)
                    h, w = img.shape[:2]
                    img = center_crop(_resize(img, *shortest_edge_size(h, w, short, None), resample),
                                      self.edge, self.edge)
                else:
                    img = _resize(img, self.edge, self.edge, resample)
            out.append(rescale_normalize(img, c, IMAGENET_STANDARD, IMAGENET_STANDARD))
        return {"pixel_values": np.stack(out).astype(np.float32)}
