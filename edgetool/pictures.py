"""Pictures of results for `edgetool run ... --save out.png`, one renderer per task (CLI side: the
runtime returns results; drawing them is the tool's job).

A renderer takes the decoded input image (HxWx3 uint8) and the pipeline's result for it and returns
the picture to write; tasks add theirs to PICTURES (segmentation overlay, depth colour map, ...).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from edgetool.runtime.errors import UsageError
from edgetool.runtime.registry import Registry

# task -> (decoded image HxWx3 uint8, the pipeline's result for it) -> picture HxWx3 uint8
PICTURES: Registry[Callable[[np.ndarray, object], np.ndarray]] = Registry("picture renderer")


# Distinct, readable colours (tab10), cycled by label.
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


@PICTURES.register("object-detection")
def draw_boxes(image: np.ndarray, detections: list) -> np.ndarray:
    from PIL import Image, ImageDraw

    pic = Image.fromarray(image)
    draw = ImageDraw.Draw(pic)
    labels = sorted({d["label"] for d in detections})
    for d in detections:
        b = d["box"]
        colour = PALETTE[labels.index(d["label"]) % len(PALETTE)]
        draw.rectangle([b["xmin"], b["ymin"], b["xmax"], b["ymax"]], outline=colour, width=2)
        draw.text((b["xmin"] + 2, b["ymin"] + 1), f"{d['label']} {d['score']:.2f}", fill=colour)
    return np.asarray(pic)


def save_pictures(task: str, images: list[np.ndarray], results: list, path) -> list[Path]:
    """Render each (image, result) and write PNGs: `path` for one image, path-0.png, path-1.png... for several.
    Each file is written to a temporary name and renamed, so no half-written picture is left behind."""
    if task not in PICTURES:
        raise UsageError(f"--save is not available for task '{task}' (pictures: {', '.join(sorted(PICTURES.keys()))}).")
    from PIL import Image

    path = Path(path)
    if not path.parent.is_dir():
        raise UsageError(f"--save {path}: folder '{path.parent}' does not exist; create it or pick another path.")
    if path.suffix.lower() != ".png":
        raise UsageError(f"--save {path}: pictures are written as PNG; give a path ending in .png.")
    targets = [path] if len(images) == 1 else [path.with_name(f"{path.stem}-{i}.png") for i in range(len(images))]
    for target, img, res in zip(targets, images, results):
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            Image.fromarray(PICTURES.get(task)(img, res)).save(tmp, format="PNG")
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    return targets


def _mask_array(mask) -> np.ndarray:
    return np.asarray(mask) > 0


@PICTURES.register("image-segmentation")
def overlay_masks(image: np.ndarray, segments: list) -> np.ndarray:
    """Each segment's mask tinted with its label's colour (half transparent) over the image."""
    out = image.astype(np.float32)
    labels = sorted({d["label"] for d in segments}, key=str)
    for d in segments:
        m = _mask_array(d["mask"])
        colour = np.asarray(PALETTE[labels.index(d["label"]) % len(PALETTE)], np.float32)
        out[m] = 0.5 * out[m] + 0.5 * colour
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


# Viridis, sampled at 9 points (matplotlib's); near = bright, far = dark like the usual depth views.
_VIRIDIS = np.asarray([(68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
                       (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37)], np.float32)


def colour_map(gray: np.ndarray) -> np.ndarray:
    """uint8 HxW -> HxWx3 uint8 through the viridis ramp (linear between its samples)."""
    pos = gray.astype(np.float32) / 255.0 * (len(_VIRIDIS) - 1)
    lo = np.minimum(pos.astype(np.int64), len(_VIRIDIS) - 2)
    t = (pos - lo)[..., None]
    return (_VIRIDIS[lo] * (1 - t) + _VIRIDIS[lo + 1] * t + 0.5).astype(np.uint8)


@PICTURES.register("depth-estimation")
def draw_depth(image: np.ndarray, result: dict) -> np.ndarray:
    return colour_map(np.asarray(result["depth"], np.uint8))
