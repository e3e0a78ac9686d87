"""The steps every image processor shares (transformers' do_resize, do_rescale, do_normalize) and the
ViT-style processor; the processor modules (detr_image, dense_image, convnext_image) build on these and
image.py names them all in its registry, so imports go one way: image -> processors -> image_ops."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import UsageError, engine_missing

MAX_PIXELS = 16384 * 16384  # refuse larger images instead of exhausting memory


def _pil():
    try:
        from PIL import Image, ImageOps
    except ImportError:
        raise engine_missing("Pillow (image decoding)", "image", "PIL") from None
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    return Image, ImageOps


def _resize(img: np.ndarray, height: int, width: int, resample: int) -> np.ndarray:
    Image, _ = _pil()
    if img.shape[:2] == (height, width):
        return img
    return np.asarray(Image.fromarray(img).resize((width, height), resample=resample))


def resize_as_configured(img: np.ndarray, cfg: dict, target_size: Callable[[int, int], tuple[int, int]],
                         default_resample: int) -> np.ndarray:
    """transformers' do_resize step: to target_size(h, w) with the config's PIL filter (the processor's default)."""
    if not cfg.get("do_resize", True):
        return img
    return _resize(img, *target_size(*img.shape[:2]), int(cfg.get("resample", default_resample)))


def rescale_normalize(img: np.ndarray, cfg: dict, mean_default, std_default) -> np.ndarray:
    """transformers' do_rescale (in float64, then float32) and do_normalize steps, channels first."""
    x = img.astype(np.float32)
    if cfg.get("do_rescale", True):
        x = (img.astype(np.float64) * cfg.get("rescale_factor", 1 / 255)).astype(np.float32)
    if cfg.get("do_normalize", mean_default is not None):
        mean = np.asarray(cfg.get("image_mean") or mean_default, dtype=np.float32)
        std = np.asarray(cfg.get("image_std") or std_default, dtype=np.float32)
        x = ((x - mean) / std).astype(np.float32)
    return x.transpose(2, 0, 1)


def _target_size(h: int, w: int, size: dict) -> tuple[int, int]:
    if "height" in size and "width" in size:
        return size["height"], size["width"]
    if "shortest_edge" in size:  # keep the aspect ratio, like transformers' get_resize_output_image_size
        short, long_ = (h, w) if h <= w else (w, h)
        new_short = size["shortest_edge"]
        new_long = int(new_short * long_ / short)
        return (new_short, new_long) if h <= w else (new_long, new_short)
    raise UsageError(f"Unsupported image size spec {size}; expected height/width or shortest_edge.")


class ResizeNormalize:
    """ViT-style: resize, rescale, normalize, channels first (ViTImageProcessor, DeiT, BEiT-like)."""

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.size = cfg.get("size") or {"height": 224, "width": 224}
        if isinstance(self.size, int):
            self.size = {"height": self.size, "width": self.size}

    def target_size(self, h: int, w: int) -> tuple[int, int]:
        return _target_size(h, w, self.size)

    def __call__(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        out = [rescale_normalize(resize_as_configured(img, self.cfg, self.target_size, 2), self.cfg,
                                 [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]) for img in images]
        return {"pixel_values": np.stack(out).astype(np.float32)}
