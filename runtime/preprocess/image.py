"""Image loading and pre-processing, driven by the checkpoint's preprocessor_config.json.

Pillow decodes files (and, for now, resamples: transformers' image processors resize through
PIL.Image.resize on uint8 data, so resampling with Pillow gives bit-identical pixels; a NumPy
re-implementation of PIL's fixed-point resampler is the planned replacement). Everything else —
rescale, normalize, channel order, batching — is NumPy.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Callable

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


def load_image(x: Any) -> np.ndarray:
    """A path, bytes, PIL image or array (HWC or CHW, uint8 or float in [0, 1]) -> HxWx3 uint8 RGB."""
    Image, ImageOps = _pil()
    if isinstance(x, np.ndarray):
        return _from_array(x)
    if isinstance(x, Image.Image):
        img = x
    elif isinstance(x, (str, Path, bytes, bytearray)):
        img = _open(x, Image)
    else:
        raise UsageError(f"Expected an image (file path, bytes, PIL.Image or numpy array), got {type(x).__name__}.")
    try:
        img = ImageOps.exif_transpose(img)
        if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit grey: PIL's convert clips, so scale first
            arr = np.asarray(img, dtype=np.float64)
            scale = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
            img = Image.fromarray(np.clip(arr / scale * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
        rgb = img.convert("RGB")
        return np.asarray(rgb, dtype=np.uint8).copy()
    except (OSError, SyntaxError, ValueError) as e:
        raise UsageError(f"Could not decode the image ({e}). The file is truncated or corrupt; re-save it as PNG or JPEG.") from None


def _open(x, Image):
    if isinstance(x, (bytes, bytearray)):
        data, name = bytes(x), "the given bytes"
    else:
        path = Path(x)
        if not path.is_file():
            raise UsageError(f"Image file '{x}' does not exist.")
        data, name = path.read_bytes(), f"'{x}'"
    if not data:
        raise UsageError(f"{name} is empty (0 bytes); give an image file.")
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Image.DecompressionBombError:
        raise UsageError(f"{name} has more than {MAX_PIXELS} pixels; downscale it before running.") from None
    except (OSError, SyntaxError) as e:
        kind = "truncated or corrupt" if "truncated" in str(e).lower() or data[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0") else "not an image"
        raise UsageError(f"{name} is {kind} ({e}). Give a PNG, JPEG, BMP or WebP file.") from None
    return img


def _from_array(a: np.ndarray) -> np.ndarray:
    if a.size == 0:
        raise UsageError(f"The image array is empty (shape {a.shape}).")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise UsageError(f"An image array must be HxW, HxWxC or CxHxW; got shape {a.shape}.")
    if a.shape[0] in (1, 3, 4) and a.shape[2] not in (1, 3, 4):
        a = np.transpose(a, (1, 2, 0))  # CHW -> HWC
    if a.shape[2] not in (1, 3, 4):
        raise UsageError(f"An image array needs 1, 3 or 4 channels; got shape {a.shape}.")
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise UsageError("The image array contains NaN or infinite values.")
        a = np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8) if a.max() <= 1.0 else np.clip(a, 0, 255).astype(np.uint8)
    a = a.astype(np.uint8)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a[:, :, :3])


# -- processors -------------------------------------------------------------------------------------
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


# image_processor_type -> processor factory; new processor types register here.
PROCESSORS: dict[str, Callable[[dict], Any]] = {
    "ViTImageProcessor": ResizeNormalize,
    "ViTImageProcessorFast": ResizeNormalize,
    "DeiTImageProcessor": ResizeNormalize,
}


def image_processor(cfg: dict):
    kind = cfg.get("image_processor_type", "ViTImageProcessor")
    if kind not in PROCESSORS:
        raise UsageError(f"Image processor '{kind}' is not supported yet (supported: {', '.join(sorted(PROCESSORS))}).")
    return PROCESSORS[kind](cfg)


def as_image_list(inputs) -> tuple[list[np.ndarray], bool]:
    """(decoded images, was_single) from one image or a list of them."""
    single = not isinstance(inputs, (list, tuple))
    items = [inputs] if single else list(inputs)
    if not items:
        raise UsageError("Expected an image or a non-empty list of images, got an empty list.")
    return [load_image(i) for i in items], single


from . import detr_image  # noqa: E402,F401  (registers the DETR-family processors)
from . import dense_image  # noqa: E402,F401  (registers the SegFormer / GLPN / DPT processors)
from . import convnext_image  # noqa: E402,F401  (registers the ConvNeXT processor)
