"""Image processors of the dense-prediction models: SegFormer (fixed size, like ViT), GLPN (round the
size down to a multiple of size_divisor) and DPT (fixed size or keep_aspect_ratio, ensure_multiple_of,
optional centre padding to size_divisor). Pillow resamples uint8 pixels exactly as transformers'
`resize` does; rescale / normalize / pad are NumPy in transformers' dtypes (float64 rescale -> float32)."""
from __future__ import annotations

import math

import numpy as np

from ..errors import UnsupportedError, UsageError
from .detr_image import IMAGENET_MEAN, IMAGENET_STD, pad_with_mask
from .image_ops import ResizeNormalize, rescale_normalize, resize_as_configured

IMAGENET_STANDARD = [0.5, 0.5, 0.5]
PIL_FILTERS = (0, 1, 2, 3, 4, 5)


def refuse(kind: str, key: str, value, why: str) -> UnsupportedError:
    """The error for a preprocessor setting this runtime cannot reproduce: named by key and value."""
    return UnsupportedError(f"{kind}: preprocessor_config.json sets {key}={value!r}, which this runtime does not "
                            f"implement ({why}); the pixels would differ from transformers. Remove or change the "
                            "setting, or use a checkpoint whose processor uses the default.")


def check_resample(kind: str, cfg: dict) -> None:
    if "resample" in cfg and cfg["resample"] not in PIL_FILTERS:
        raise refuse(kind, "resample", cfg["resample"], "a PIL resampling filter 0-5 is expected")


def height_width(kind: str, cfg: dict, default: dict) -> dict:
    """The processor's `size` as {height, width} (an int is a square); any other spec is refused."""
    size = cfg.get("size") or default
    if isinstance(size, int) and not isinstance(size, bool):
        return {"height": size, "width": size}
    if isinstance(size, dict) and set(size) == {"height", "width"} and \
            all(isinstance(v, int) and v > 0 for v in size.values()):
        return dict(size)
    raise refuse(kind, "size", cfg.get("size"), "expected {height, width} or an int")


def _stack(out: list[np.ndarray], name: str) -> dict[str, np.ndarray]:
    if len({x.shape for x in out}) > 1:
        raise UsageError(f"{name} turns these images into different sizes; pass them one at a time.")
    return {"pixel_values": np.stack(out).astype(np.float32)}


class GlpnProcessor:
    """GLPNImageProcessor: resize to (h // d * d, w // d * d), rescale; no normalisation."""

    def __init__(self, cfg: dict):
        self.cfg, self.divisor = cfg, int(cfg.get("size_divisor", 32))

    def target_size(self, h: int, w: int) -> tuple[int, int]:
        nh, nw = h // self.divisor * self.divisor, w // self.divisor * self.divisor
        if nh == 0 or nw == 0:
            raise UsageError(f"The image is {w}x{h} pixels; this model needs at least {self.divisor}x{self.divisor} "
                             "(its size_divisor). Upscale the image first.")
        return nh, nw

    def __call__(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        out = [rescale_normalize(resize_as_configured(img, self.cfg, self.target_size, 2),
                                 {**self.cfg, "do_normalize": False}, None, None) for img in images]
        return _stack(out, "GLPN's size_divisor rounding")


def _multiple(val: float, multiple: int, min_val: int = 0, max_val: int | None = None) -> int:
    """transformers' constrain_to_multiple_of (Python's round: halves to even)."""
    x = round(val / multiple) * multiple
    if max_val is not None and x > max_val:
        x = math.floor(val / multiple) * multiple
    if x < min_val:
        x = math.ceil(val / multiple) * multiple
    return int(x)


class DptProcessor:
    """DPTImageProcessor: resize (fixed, or keeping the aspect ratio by scaling as little as possible),
    rounded to ensure_multiple_of; rescale; normalize; centre-pad to size_divisor when do_pad."""

    def __init__(self, cfg: dict):
        self.cfg = cfg
        kind = cfg.get("image_processor_type", "DPTImageProcessor")
        self.size = height_width(kind, cfg, {"height": 384, "width": 384})
        check_resample(kind, cfg)

    def target_size(self, h: int, w: int) -> tuple[int, int]:
        c = self.cfg
        sh, sw = self.size["height"] / h, self.size["width"] / w
        if c.get("keep_aspect_ratio", False):
            if abs(1 - sw) < abs(1 - sh):
                sh = sw
            else:
                sw = sh
        m = int(c.get("ensure_multiple_of", 1) or 1)
        nh, nw = _multiple(sh * h, m), _multiple(sw * w, m)
        if nh == 0 or nw == 0:
            raise UsageError(f"The image is {w}x{h} pixels, too thin to resize for this model "
                             f"(it would become {nw}x{nh}); crop or pad it first.")
        return nh, nw

    def __call__(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        c = self.cfg
        out = []
        for img in images:
            x = rescale_normalize(resize_as_configured(img, c, self.target_size, 3), c, IMAGENET_STANDARD,
                                  IMAGENET_STANDARD)
            if c.get("do_pad", False):
                d = int(c["size_divisor"])
                ph, pw = math.ceil(x.shape[1] / d) * d - x.shape[1], math.ceil(x.shape[2] / d) * d - x.shape[2]
                x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)))
            out.append(x)
        return _stack(out, "DPT's keep_aspect_ratio resizing")


class SegformerProcessor(ResizeNormalize):
    """SegformerImageProcessor: ViT-style fixed-size resize (do_reduce_labels only concerns labels)."""

    def __init__(self, cfg: dict):
        super().__init__({"image_mean": IMAGENET_MEAN, "image_std": IMAGENET_STD, **cfg})
        kind = cfg.get("image_processor_type", "SegformerImageProcessor")
        self.size = height_width(kind, cfg, {"height": 512, "width": 512})
        check_resample(kind, cfg)


def shortest_edge_size(h: int, w: int, size: int, max_size: int | None) -> tuple[int, int]:
    """transformers' get_resize_output_image_size(default_to_square=False) (truncating, unlike DETR's)."""
    short, long_ = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long_ / short)
    if max_size is not None and new_long > max_size:
        new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if w <= h else (new_short, new_long)


class MaskFormerProcessor:
    """MaskFormerImageProcessor (and Mask2FormerImageProcessor, the same steps): shortest/longest edge resize
    rounded up to size_divisor, rescale, normalize, pad bottom/right to the batch's largest image (or
    pad_size), pixel_mask."""

    def __init__(self, cfg: dict):
        self.cfg = cfg
        check_resample(cfg.get("image_processor_type", "MaskFormerImageProcessor"), cfg)
        size = cfg.get("size") or {"shortest_edge": 800, "longest_edge": cfg.get("max_size", 1333)}
        self.size = {"shortest_edge": size, "longest_edge": cfg.get("max_size", 1333)} if isinstance(size, int) else size

    def target_size(self, h: int, w: int) -> tuple[int, int]:
        s = self.size
        if "shortest_edge" in s:
            nh, nw = shortest_edge_size(h, w, s["shortest_edge"], s.get("longest_edge"))
        elif "height" in s and "width" in s:
            nh, nw = s["height"], s["width"]
        else:
            raise UsageError(f"Unsupported MaskFormer size spec {s}; expected shortest_edge/longest_edge or height/width.")
        d = int(self.cfg.get("size_divisor", 32) or 0)
        if d > 0:
            nh, nw = math.ceil(nh / d) * d, math.ceil(nw / d) * d
        if nh == 0 or nw == 0:
            raise UsageError(f"The image is {w}x{h} pixels, too thin to resize for this model; crop or pad it first.")
        return nh, nw

    def __call__(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        c = self.cfg
        out = [rescale_normalize(resize_as_configured(img, c, self.target_size, 2), c, IMAGENET_MEAN, IMAGENET_STD)
               for img in images]
        pad = c.get("pad_size")
        return pad_with_mask(out, (pad["height"], pad["width"]) if pad else None)


def zoe_padding(h: int, w: int) -> tuple[int, int]:
    """ZoeDepth's reflection padding per side: int(sqrt(size / 2) * 3), for height and width."""
    return int(np.sqrt(h / 2) * 3), int(np.sqrt(w / 2) * 3)


class ZoeDepthProcessor:
    """ZoeDepthImageProcessor: rescale; reflection-pad each side by int(sqrt(size / 2) * 3); resize the
    padded picture (keep_aspect_ratio, ensure_multiple_of with NumPy's round, no upper bound) with torch's
    bilinear align_corners=True on float pixels; normalize. The head removes the padding afterwards."""

    def __init__(self, cfg: dict):
        self.cfg = cfg
        kind = cfg.get("image_processor_type", "ZoeDepthImageProcessor")
        self.size = height_width(kind, cfg, {"height": 384, "width": 512})
        if cfg.get("do_resize", True) and cfg.get("resample", 2) != 2:
            raise refuse(kind, "resample", cfg["resample"], "ZoeDepth resizes with torch's bilinear align_corners=True; "
                         "only resample=2 (bilinear) is implemented")
        m = cfg.get("ensure_multiple_of", 32)
        if not isinstance(m, int) or isinstance(m, bool) or m < 1:
            raise refuse(kind, "ensure_multiple_of", m, "a positive int is expected")
        self.multiple = m

    def target_size(self, h: int, w: int) -> tuple[int, int]:
        sh, sw = self.size["height"] / h, self.size["width"] / w
        if self.cfg.get("keep_aspect_ratio", True):
            if abs(1 - sw) < abs(1 - sh):
                sh = sw
            else:
                sw = sh
        m = self.multiple
        nh, nw = (int(np.round(v / m) * m) for v in (sh * h, sw * w))
        if nh == 0 or nw == 0:
            raise UsageError(f"The image is {w}x{h} pixels once padded, too thin to resize for this model "
                             f"(it would become {nw}x{nh}); crop or pad it first.")
        return nh, nw

    def one(self, img: np.ndarray) -> np.ndarray:
        from ..postprocess.interpolate import interpolate

        c = self.cfg
        x = img.astype(np.float32)
        if c.get("do_rescale", True):
            x = (img.astype(np.float64) * c.get("rescale_factor", 1 / 255)).astype(np.float32)
        if c.get("do_pad", True):
            ph, pw = zoe_padding(*x.shape[:2])
            x = np.pad(x, ((ph, ph), (pw, pw), (0, 0)), mode="reflect")
        x = x.transpose(2, 0, 1)
        if c.get("do_resize", True):
            x = interpolate(x, self.target_size(*x.shape[1:]), "bilinear-align-corners")
        if c.get("do_normalize", True):
            mean = np.asarray(c.get("image_mean") or IMAGENET_STANDARD, dtype=np.float32)[:, None, None]
            std = np.asarray(c.get("image_std") or IMAGENET_STANDARD, dtype=np.float32)[:, None, None]
            x = ((x - mean) / std).astype(np.float32)
        return x

    def __call__(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        return _stack([self.one(img) for img in images], "ZoeDepth's keep_aspect_ratio resizing")
