"""DETR-family image processor (DetrImageProcessor): resize by shortest/longest edge, rescale,
normalize, pad bottom/right to the batch's largest image, pixel_mask (1 = real pixel)."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError, UsageError
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


def yolos_size(h: int, w: int, size: int, max_size: int | None, mod_size: int = 16) -> tuple[int, int]:
    """transformers' YOLOS get_size_with_aspect_ratio: DETR's, its branches in YOLOS's order, then both
    sides rounded down to a multiple of mod_size."""
    raw = None
    if max_size is not None:
        lo, hi = float(min(h, w)), float(max(h, w))
        if hi / lo * size > max_size:
            raw = max_size * lo / hi
            size = int(round(raw))
    if w < h:
        oh, ow = (int(raw * h / w) if raw is not None else int(size * h / w)), size
    elif (h <= w and h == size) or (w <= h and w == size):
        oh, ow = h, w
    else:
        oh, ow = size, (int(raw * w / h) if raw is not None else int(size * w / h))
    return oh - oh % mod_size, ow - ow % mod_size


# Settings of the DETR-style processors that never change the pixels (annotation handling, metadata).
_NEUTRAL = frozenset({"image_processor_type", "processor_class", "feature_extractor_type", "auto_map", "format",
                      "do_convert_annotations", "do_convert_rgb"})
_READ = frozenset({"do_resize", "size", "resample", "do_rescale", "rescale_factor", "do_normalize", "image_mean",
                   "image_std", "do_pad", "pad_size", "max_size"})


def _refuse(kind: str, key: str, value, why: str) -> UnsupportedError:
    return UnsupportedError(f"{kind}: preprocessor_config.json sets {key}={value!r}, which this runtime does not "
                            f"implement ({why}); the pixels would differ from transformers. Remove or change the "
                            "setting, or use a checkpoint whose processor uses the default.")


class DetectionProcessor:
    """YolosImageProcessor and RTDetrImageProcessor, every setting they read from preprocessor_config.json
    checked when the processor is built (at export): resize (shortest/longest edge, height/width or
    max_height/max_width; YOLOS rounds to multiples of 16), rescale, normalize (off by default for
    RT-DETR), pad bottom/right with zeros to pad_size or the batch's largest image. No pixel_mask: neither
    model reads one."""

    kind = "YolosImageProcessor"
    defaults: dict = {"size": {"shortest_edge": 800, "longest_edge": 1333}, "resample": 2, "do_normalize": True,
                      "do_pad": True}
    mod_size: int | None = 16

    def __init__(self, cfg: dict):
        self.cfg = c = {**self.defaults, **{k: v for k, v in cfg.items() if v is not None or k == "pad_size"}}
        for key, value in cfg.items():
            if key not in _READ | _NEUTRAL and not key.startswith("_"):
                raise _refuse(self.kind, key, value, "a setting this processor does not know")
        size = c["size"]
        if isinstance(size, int) and not isinstance(size, bool):
            size = {"shortest_edge": size, **({"longest_edge": c["max_size"]} if c.get("max_size") else {})}
        shapes = ({"shortest_edge", "longest_edge"}, {"height", "width"}, {"max_height", "max_width"})
        if not isinstance(size, dict) or set(size) not in shapes or \
                not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size.values()):
            raise _refuse(self.kind, "size", c["size"], "expected {shortest_edge, longest_edge}, {height, width} "
                                                        "or {max_height, max_width} of positive ints")
        self.size = size
        if c["resample"] not in (0, 1, 2, 3, 4, 5):
            raise _refuse(self.kind, "resample", c["resample"], "a PIL resampling filter 0-5 is expected")
        for key in ("image_mean", "image_std"):
            v = c.get(key)
            if v is not None and np.asarray([v] * 3 if isinstance(v, (int, float)) else v).shape != (3,):
                raise _refuse(self.kind, key, v, "one value or three (RGB) are expected")
        pad = c.get("pad_size")
        if pad is not None and (not isinstance(pad, dict) or set(pad) != {"height", "width"}):
            raise _refuse(self.kind, "pad_size", pad, "expected {height, width}")
        self.pad_size = (pad["height"], pad["width"]) if pad and c["do_pad"] else None

    def target_size(self, h: int, w: int) -> tuple[int, int]:
        s = self.size
        if "height" in s:
            return s["height"], s["width"]
        if "max_height" in s:
            scale = min(s["max_height"] / h, s["max_width"] / w)
            return int(h * scale), int(w * scale)
        if self.mod_size is not None:
            return yolos_size(h, w, s["shortest_edge"], s["longest_edge"], self.mod_size)
        return size_with_aspect_ratio(h, w, s["shortest_edge"], s["longest_edge"])

    def __call__(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        c = self.cfg
        out = [rescale_normalize(resize_as_configured(img, c, self.target_size, c["resample"]), c,
                                 IMAGENET_MEAN, IMAGENET_STD) for img in images]
        if not c["do_pad"]:
            if len({x.shape for x in out}) > 1:
                raise UsageError("Images of different sizes need do_pad=true in preprocessor_config.json.")
            return {"pixel_values": np.stack(out).astype(np.float32)}
        if self.pad_size is not None and any(x.shape[1] > self.pad_size[0] or x.shape[2] > self.pad_size[1]
                                             for x in out):
            raise UsageError(f"{self.kind}: an image resized to more than pad_size {self.pad_size} cannot be padded; "
                             "remove pad_size from preprocessor_config.json or resize the image first.")
        return {"pixel_values": pad_with_mask(out, self.pad_size)["pixel_values"]}


class RtDetrProcessor(DetectionProcessor):
    kind = "RTDetrImageProcessor"
    defaults = {"size": {"height": 640, "width": 640}, "resample": 2, "do_normalize": False, "do_pad": False}
    mod_size = None
