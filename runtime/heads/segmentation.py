"""image-segmentation heads: per image a list of {"score", "label", "mask"} (mode-"L" PIL mask, 255
inside, at the original size).

Hooks the image-segmentation pipeline calls: `subtasks` (the first is the default), `preprocess(images)`,
`forward(feeds)`, `segments(image, outputs, subtask, threshold, mask_threshold, overlap_mask_area_threshold)`.
- segformer (semantic): logits upsampled to the image size (bilinear, align_corners=False, as
  post_process_semantic_segmentation), argmax per pixel, one mask per class present, score None.
- maskformer (mask classification): per query a class distribution and a mask. subtask "panoptic"
  (the pipeline's default) follows post_process_panoptic_segmentation, "instance"
  post_process_instance_segmentation, "semantic" a class-weighted sum of masks, upsampled, argmax
  (details in runtime/postprocess/segmentation.py).
- mask2former: as maskformer, after resizing the mask logits to 384 x 384 (bilinear) first, as
  Mask2FormerImageProcessor's post-processing does for every subtask.
- dpt, mobilevit, upernet, beit (semantic): as segformer.
"""
from __future__ import annotations

import numpy as np

from ..names import LOGITS
from ..postprocess.activations import sigmoid, softmax
from ..postprocess.interpolate import interpolate
from ..postprocess.segmentation import instance_segments, mask_image, panoptic_segments, present_classes, semantic_map
from ..preprocess.image import image_processor
from .base import Head, Prepared


class _ImageHead(Head):
    def setup(self) -> None:
        self.processor = image_processor(self.bundle.processing["image"])

    def preprocess(self, images: list) -> Prepared:
        return Prepared(images, self.processor(images))

    def _semantic(self, seg_logits: np.ndarray, size) -> list[dict]:
        seg = semantic_map(seg_logits.astype(np.float32), size)
        return [{"score": None, "label": self.pipe.id2label[int(c)], "mask": mask_image(seg == c)}
                for c in present_classes(seg, seg_logits.shape[0])]


class SemanticHead(_ImageHead):
    subtasks = ("semantic",)

    def segments(self, img: np.ndarray, out: dict, subtask, **_) -> list[dict]:
        return self._semantic(out[LOGITS][0], img.shape[:2])


def _f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


class MaskClassificationHead(_ImageHead):
    subtasks = ("panoptic", "instance", "semantic")

    def segments(self, img: np.ndarray, out: dict, subtask, threshold, mask_threshold,
                 overlap_mask_area_threshold) -> list[dict]:
        cls, masks = out["class_queries_logits"][0], out["masks_queries_logits"][0]
        if subtask == "semantic":
            weights = softmax(_f32(cls))[:, :-1]
            return self._semantic(np.einsum("qc,qhw->chw", weights, sigmoid(_f32(masks))).astype(np.float32),
                                  img.shape[:2])
        if subtask == "instance":
            found = instance_segments(cls, masks, img.shape[:2], threshold)
        else:
            found = panoptic_segments(cls, masks, img.shape[:2], threshold, mask_threshold, overlap_mask_area_threshold)
        return [{"score": score, "label": self.pipe.id2label[label], "mask": mask_image(mask)}
                for label, score, mask in found]


class Mask2FormerHead(MaskClassificationHead):
    """Mask2FormerImageProcessor resizes the mask logits to a fixed 384 x 384 grid ("the preprocessed image
    size for all models") before any subtask's post-processing; the rest is MaskFormer's."""

    MASK_GRID = (384, 384)

    def segments(self, img: np.ndarray, out: dict, subtask, threshold, mask_threshold,
                 overlap_mask_area_threshold) -> list[dict]:
        masks = interpolate(_f32(out["masks_queries_logits"][:1]), self.MASK_GRID, "bilinear")
        return super().segments(img, {**out, "masks_queries_logits": masks}, subtask, threshold, mask_threshold,
                                overlap_mask_area_threshold)
