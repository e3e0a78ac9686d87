"""The image processors of the classification families, as data: each transformers processor class is a
`Spec` (its defaults, how it resizes, which steps it runs), and one `ClassifyProcessor` runs the steps in
transformers' order on uint8 pixels — resize (Pillow, as transformers does), centre crop (zero-padded
when the image is smaller), rescale (float64 then float32, optional -1 offset), normalize, EfficientNet's
include_top division, MobileViT's RGB -> BGR flip, channels first.

A setting the processor reads but this runtime cannot reproduce (a size spec of another shape, an unknown
resampling filter) raises UnsupportedError naming the key and value: never a silent approximation."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import UnsupportedError
from .convnext_image import center_crop
from .dense_image import shortest_edge_size
from .image_ops import _resize

IMAGENET_STANDARD = ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
IMAGENET_DEFAULT = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
OPENAI_CLIP = ([0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711])
NONE = (None, None)

# Resize modes: how `size` becomes the resized (height, width).
SQUARE = "height-width"  # size must be {height, width}: warp to it (ViT, DeiT, BEiT, EfficientNet)
SHORTEST = "shortest-edge"  # {shortest_edge}: keep the aspect ratio (int truncation); or {height, width}: warp
LEVIT = "levit"  # like SHORTEST with the shortest edge scaled by 256 / 224 first
CROP_PCT = "crop-pct"  # PoolFormer: the size divided by crop_pct, then SHORTEST

# Keys that never change pixels (metadata, label-only settings, RGB conversion: images are RGB already).
NEUTRAL_KEYS = frozenset({"image_processor_type", "processor_class", "feature_extractor_type", "auto_map",
                          "do_reduce_labels", "reduce_labels", "do_convert_rgb"})


@dataclass(frozen=True)
class Spec:
    size: dict
    resample: int
    resize: str = SQUARE
    int_size_square: bool = True  # how an int `size` reads (transformers' get_size_dict default_to_square)
    center_crop: bool = False  # do_center_crop's default; None: the processor has no crop step
    crop_size: dict | None = None
    mean_std: tuple = IMAGENET_STANDARD
    normalizes: bool = True  # False: the processor has no normalize step (MobileViT)
    crop_pct: float | None = None
    rescale_offset: bool = False  # EfficientNet's step exists (default off)
    include_top: bool | None = None  # EfficientNet only: divide by std once more
    flip_channels: bool | None = None  # MobileViT only: RGB -> BGR
    keys: frozenset = field(default_factory=frozenset)  # the settings the processor reads


_COMMON = {"do_resize", "size", "resample", "do_rescale", "rescale_factor", "do_normalize", "image_mean", "image_std"}
_CROP = {"do_center_crop", "crop_size"}

SPECS: dict[str, Spec] = {
    "ViTImageProcessor": Spec({"height": 224, "width": 224}, 2, keys=frozenset(_COMMON)),
    "DeiTImageProcessor": Spec({"height": 256, "width": 256}, 3, center_crop=True,
                               crop_size={"height": 224, "width": 224}, keys=frozenset(_COMMON | _CROP)),
    "BeitImageProcessor": Spec({"height": 256, "width": 256}, 3, center_crop=True,
                               crop_size={"height": 224, "width": 224}, keys=frozenset(_COMMON | _CROP)),
    "BitImageProcessor": Spec({"shortest_edge": 224}, 3, SHORTEST, False, True, {"height": 224, "width": 224},
                              OPENAI_CLIP, keys=frozenset(_COMMON | _CROP)),
    "MobileNetV1ImageProcessor": Spec({"shortest_edge": 256}, 2, SHORTEST, False, True, {"height": 224, "width": 224},
                                      keys=frozenset(_COMMON | _CROP)),
    "MobileNetV2ImageProcessor": Spec({"shortest_edge": 256}, 2, SHORTEST, False, True, {"height": 224, "width": 224},
                                      keys=frozenset(_COMMON | _CROP)),
    "EfficientNetImageProcessor": Spec({"height": 346, "width": 346}, 0, SQUARE, True, False,
                                       {"height": 289, "width": 289}, rescale_offset=False, include_top=True,
                                       keys=frozenset(_COMMON | _CROP | {"rescale_offset", "include_top"})),
    "MobileViTImageProcessor": Spec({"shortest_edge": 224}, 2, SHORTEST, False, True, {"height": 256, "width": 256},
                                    NONE, normalizes=False, flip_channels=True,
                                    keys=frozenset(_COMMON - {"do_normalize", "image_mean", "image_std"}
                                                   | _CROP | {"do_flip_channel_order"})),
    "LevitImageProcessor": Spec({"shortest_edge": 224}, 3, LEVIT, False, True, {"height": 224, "width": 224},
                                IMAGENET_DEFAULT, keys=frozenset(_COMMON | _CROP)),
    "PoolFormerImageProcessor": Spec({"shortest_edge": 224}, 3, CROP_PCT, False, True, {"height": 224, "width": 224},
                                     IMAGENET_DEFAULT, crop_pct=0.9, keys=frozenset(_COMMON | _CROP | {"crop_pct"})),
}


def _refuse(kind: str, key: str, value, why: str) -> UnsupportedError:
    return UnsupportedError(f"{kind}: preprocessor_config.json sets {key}={value!r}, which this runtime does not "
                            f"implement ({why}); the pixels would differ from transformers. Remove or change the "
                            "setting, or use a checkpoint whose processor uses the default.")


class ClassifyProcessor:
    """One transformers classification image processor, by its image_processor_type."""

    def __init__(self, cfg: dict, kind: str | None = None):
        self.kind = kind or cfg.get("image_processor_type", "ViTImageProcessor")
        self.spec = spec = SPECS[self.kind]
        self.cfg = cfg
        self.size = self._size_dict("size", cfg.get("size"), spec.size, spec.int_size_square)
        modes = {SQUARE: [{"height", "width"}], SHORTEST: [{"shortest_edge"}, {"height", "width"}],
                 LEVIT: [{"shortest_edge"}, {"height", "width"}], CROP_PCT: [{"shortest_edge"}, {"height", "width"}]}
        if set(self.size) not in modes[spec.resize]:
            allowed = " or ".join("{" + ", ".join(sorted(m)) + "}" for m in modes[spec.resize])
            raise _refuse(self.kind, "size", cfg.get("size"), f"expected {allowed}")
        self.resample = cfg.get("resample", spec.resample)
        if self.resample not in (0, 1, 2, 3, 4, 5):
            raise _refuse(self.kind, "resample", self.resample, "a PIL resampling filter 0-5 is expected")
        self.do_crop = bool(cfg.get("do_center_crop", spec.center_crop)) and "do_center_crop" in spec.keys
        self.crop = self._size_dict("crop_size", cfg.get("crop_size"), spec.crop_size or {}, True) if self.do_crop else {}
        if self.do_crop and set(self.crop) != {"height", "width"}:
            raise _refuse(self.kind, "crop_size", cfg.get("crop_size"), "expected {height, width}")
        self.crop_pct = cfg.get("crop_pct", spec.crop_pct) if spec.resize == CROP_PCT else None
        if self.crop_pct is not None and not (isinstance(self.crop_pct, (int, float)) and self.crop_pct > 0):
            raise _refuse(self.kind, "crop_pct", self.crop_pct, "a positive number is expected")
        mean, std = spec.mean_std
        self.do_normalize = spec.normalizes and bool(cfg.get("do_normalize", True))
        self.mean = self._channels("image_mean", cfg.get("image_mean"), mean) if self.do_normalize else None
        self.std = self._channels("image_std", cfg.get("image_std"), std) if spec.normalizes else None
        self.offset = bool(cfg.get("rescale_offset", False)) and "rescale_offset" in spec.keys
        self.include_top = spec.include_top is not None and bool(cfg.get("include_top", spec.include_top))
        self.flip = spec.flip_channels is not None and bool(cfg.get("do_flip_channel_order", spec.flip_channels))

    def _size_dict(self, key: str, value, default: dict, int_square: bool) -> dict:
        if value is None:
            return dict(default)
        if isinstance(value, int) and not isinstance(value, bool):
            return {"height": value, "width": value} if int_square else {"shortest_edge": value}
        if isinstance(value, dict) and all(isinstance(v, int) and v > 0 for v in value.values()):
            return dict(value)
        raise _refuse(self.kind, key, value, "expected an int or a dict of positive ints")

    def _channels(self, key: str, value, default) -> np.ndarray:
        v = default if value is None else value
        arr = np.asarray([v] * 3 if isinstance(v, (int, float)) else v, dtype=np.float32)
        if arr.shape != (3,):
            raise _refuse(self.kind, key, value, "one value or three (RGB) are expected")
        return arr

    def target_size(self, h: int, w: int) -> tuple[int, int]:
        s, mode = self.size, self.spec.resize
        if "shortest_edge" not in s:
            if mode == CROP_PCT and self.crop_pct is not None:
                if s["height"] == s["width"]:
                    return shortest_edge_size(h, w, int(s["height"] / self.crop_pct), None)
                return int(s["height"] / self.crop_pct), int(s["width"] / self.crop_pct)
            return s["height"], s["width"]
        edge = s["shortest_edge"]
        if mode == LEVIT:
            edge = int((256 / 224) * edge)
        elif mode == CROP_PCT and self.crop_pct is not None:
            edge = int(edge / self.crop_pct)
        return shortest_edge_size(h, w, edge, None)

    def one(self, img: np.ndarray) -> np.ndarray:
        c = self.cfg
        if c.get("do_resize", True):
            nh, nw = self.target_size(*img.shape[:2])
            if nh <= 0 or nw <= 0:
                raise UnsupportedError(f"The image is {img.shape[1]}x{img.shape[0]} pixels, too thin to resize for "
                                       f"this model (it would become {nw}x{nh}); crop or pad it first.")
            img = _resize(img, nh, nw, int(self.resample))
        if self.do_crop:
            img = center_crop(img, self.crop["height"], self.crop["width"])
        x = img.astype(np.float32)
        if c.get("do_rescale", True):
            x = (img.astype(np.float64) * c.get("rescale_factor", 1 / 255)).astype(np.float32)
            if self.offset:
                x = x - np.float32(1)
        if self.mean is not None and self.std is not None:
            x = ((x - self.mean) / self.std).astype(np.float32)
        if self.include_top and self.std is not None:
            x = (x / self.std).astype(np.float32)
        if self.flip:
            x = x[:, :, ::-1]
        return np.ascontiguousarray(x.transpose(2, 0, 1))

    def __call__(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        out = [self.one(img) for img in images]
        if len({x.shape for x in out}) > 1:
            raise UnsupportedError(f"{self.kind} (no centre crop) turns these images into different sizes; "
                                   "pass them one at a time.")
        return {"pixel_values": np.stack(out).astype(np.float32)}


def processor_for(kind: str):
    """A factory cfg -> ClassifyProcessor for one image_processor_type (the registry's lazy value)."""
    return lambda cfg: ClassifyProcessor(cfg, kind)


# One factory per processor class, named for image.py's registry ("classify_image:DeiTImageProcessor").
for _kind in SPECS:
    globals()[_kind] = processor_for(_kind)
