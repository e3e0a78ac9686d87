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

from ..errors import UnsupportedError, UsageError
from ..registry import Registry
from .image_ops import MAX_PIXELS, ResizeNormalize, _pil, _resize, _target_size, rescale_normalize, resize_as_configured  # noqa: F401  (the shared steps, importable from here as before)

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
        if path.is_dir():
            raise UsageError(f"Image file '{x}' is a directory; give an image file.")
        if not path.exists() and not path.is_symlink():
            raise UsageError(f"Image file '{x}' does not exist.")
        # other failures (permissions, a symlink loop) are OSErrors the CLI turns into one line naming path and fix
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


# image_processor_type -> the processor class (lazy: a device imports only the one its bundle needs).
PROCESSORS: Registry[Callable[[dict], Any]] = Registry("image processor")
for _names, _ref in ((("ViTImageProcessorFast",), "classify_image:ViTImageProcessor"),
                     (("DetrImageProcessor", "DetrImageProcessorFast", "ConditionalDetrImageProcessor",
                       "DeformableDetrImageProcessor"), "detr_image:DetrProcessor"),
                     (("YolosImageProcessor",), "detr_image:DetectionProcessor"),
                     (("RTDetrImageProcessor",), "detr_image:RtDetrProcessor"),
                     (("GLPNImageProcessor",), "dense_image:GlpnProcessor"),
                     (("DPTImageProcessor", "DPTImageProcessorFast"), "dense_image:DptProcessor"),
                     (("ZoeDepthImageProcessor", "ZoeDepthImageProcessorFast"), "dense_image:ZoeDepthProcessor"),
                     (("SegformerImageProcessor", "SegformerImageProcessorFast"), "dense_image:SegformerProcessor"),
                     (("MaskFormerImageProcessor", "MaskFormerImageProcessorFast", "Mask2FormerImageProcessor",
                       "Mask2FormerImageProcessorFast"), "dense_image:MaskFormerProcessor"),
                     (("ConvNextImageProcessor", "ConvNextImageProcessorFast"), "convnext_image:ConvNextProcessor")):
    for _name in _names:
        PROCESSORS.add(_name, f"{__package__}.{_ref}")
for _name in ("ViTImageProcessor", "DeiTImageProcessor", "BeitImageProcessor", "BitImageProcessor",
              "MobileNetV1ImageProcessor", "MobileNetV2ImageProcessor", "EfficientNetImageProcessor",
              "MobileViTImageProcessor", "LevitImageProcessor", "PoolFormerImageProcessor"):
    PROCESSORS.add(_name, f"{__package__}.classify_image:{_name}")  # one Spec each (classify_image.SPECS)


def image_processor(cfg: dict):
    kind = cfg.get("image_processor_type", "ViTImageProcessor")
    if kind not in PROCESSORS:
        raise UnsupportedError(f"preprocessor_config.json sets image_processor_type={kind!r}, which this runtime does "
                               f"not implement (supported: {', '.join(sorted(str(k) for k in PROCESSORS.keys()))}).")
    return PROCESSORS.get(kind)(cfg)


def as_image_list(inputs) -> tuple[list[np.ndarray], bool]:
    """(decoded images, was_single) from one image or a list of them."""
    single = not isinstance(inputs, (list, tuple))
    items = [inputs] if single else list(inputs)
    if not items:
        raise UsageError("Expected an image or a non-empty list of images, got an empty list.")
    return [load_image(i) for i in items], single
