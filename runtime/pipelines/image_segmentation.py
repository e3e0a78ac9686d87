"""image-segmentation, answering like transformers' ImageSegmentationPipeline: per image a list of
{"score", "label", "mask"} with "mask" a mode-"L" PIL image (255 inside) at the original size.

Segmenters, picked by the bundle's processing["segmenter"]:
- "semantic" (SegFormer): logits upsampled to the image size (bilinear, align_corners=False, as
  post_process_semantic_segmentation), argmax per pixel, one mask per class present, score None.
"""
from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..postprocess.draw import save_pictures
from ..postprocess.interpolate import Resizer
from ..preprocess.image import as_image_list, image_processor
from .base import Pipeline

ROW_BLOCK = 256  # output rows upsampled at once: a 10000x10000 image never holds C x H x W floats


def _mask_image(mask: np.ndarray):
    from PIL import Image

    return Image.fromarray(mask.astype(np.uint8) * np.uint8(255), mode="L")


def semantic_map(logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[C, h, w] logits -> [H, W] class ids, like interpolate(bilinear) + argmax, block by block."""
    resize = Resizer(logits.shape[-2:], size, "bilinear")
    dtype = np.uint8 if logits.shape[0] <= 256 else np.int32
    out = np.empty(size, dtype=dtype)
    for r in range(0, size[0], ROW_BLOCK):
        out[r:r + ROW_BLOCK] = resize(logits, r, min(r + ROW_BLOCK, size[0])).argmax(0)
    return out


class SemanticSegmenter:
    subtasks = ("semantic",)

    def __init__(self, pipe: "ImageSegmentationPipeline"):
        self.pipe, self.processor = pipe, image_processor(pipe.bundle.processing["image"])

    def __call__(self, img: np.ndarray, subtask, **_) -> list[dict]:
        logits = self.pipe.run_graph("model", self.processor([img]))["logits"][0]
        seg = semantic_map(logits.astype(np.float32), img.shape[:2])
        return [{"score": None, "label": self.pipe.id2label[int(c)], "mask": _mask_image(seg == c)}
                for c in np.unique(seg)]


SEGMENTERS = {"semantic": SemanticSegmenter}


class ImageSegmentationPipeline(Pipeline):
    def setup(self) -> None:
        kind = self.bundle.processing.get("segmenter")
        if kind not in SEGMENTERS:
            raise UsageError(f"This bundle's segmenter '{kind}' is not supported (known: {', '.join(SEGMENTERS)}); "
                             "re-export it with this version of edgetool.")
        self.segmenter = SEGMENTERS[kind](self)
        self.id2label = self.bundle.id2label

    def __call__(self, inputs, subtask: str | None = None, threshold: float = 0.9, mask_threshold: float = 0.5,
                 overlap_mask_area_threshold: float = 0.5, save: str | None = None):
        images, single = as_image_list(inputs)
        if subtask is not None and subtask not in self.segmenter.subtasks:
            raise UsageError(f"subtask '{subtask}' is not available for this model (it supports: "
                             f"{', '.join(self.segmenter.subtasks)}).")
        for name, v in (("threshold", threshold), ("mask_threshold", mask_threshold),
                        ("overlap_mask_area_threshold", overlap_mask_area_threshold)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise UsageError(f"{name} must be a number between 0 and 1, got {v!r}.")
        opts = {"threshold": threshold, "mask_threshold": mask_threshold,
                "overlap_mask_area_threshold": overlap_mask_area_threshold}
        results = [self.segmenter(img, subtask, **opts) for img in images]  # one at a time, like transformers
        if save:
            save_pictures(self.bundle.task, images, results, save)
        return results[0] if single else results

    def format(self, result) -> str:
        rows = result if result and isinstance(result[0], list) else [result]
        return "\n\n".join("\n".join(
            f"{d['label']:<16} {'-' if d['score'] is None else format(d['score'], '.4f'):>7}  "
            f"{int((np.asarray(d['mask']) > 0).sum())} px" for d in row) or "(no segments)" for row in rows)
