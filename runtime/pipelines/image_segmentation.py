"""image-segmentation, answering like transformers' ImageSegmentationPipeline: per image a list of
{"score", "label", "mask"} with "mask" a mode-"L" PIL image (255 inside) at the original size.

The family's head (runtime/heads/segmentation.py: segformer, maskformer) knows its subtasks and turns
the graph's outputs into segments; this pipeline checks the options and runs one image at a time,
like transformers."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UsageError
from ..preprocess.image import as_image_list
from .base import Pipeline, Prepared

if TYPE_CHECKING:
    from ..heads.segmentation import MaskClassificationHead, SemanticHead


class ImageSegmentationPipeline(Pipeline):
    head: SemanticHead | MaskClassificationHead

    def setup(self) -> None:
        self.id2label = self.bundle.id2label

    def sanitize(self, subtask: str | None = None, threshold: float = 0.9, mask_threshold: float = 0.5,
                 overlap_mask_area_threshold: float = 0.5) -> dict:
        if subtask is not None and subtask not in self.head.subtasks:
            raise UsageError(f"subtask '{subtask}' is not available for this model (it supports: "
                             f"{', '.join(self.head.subtasks)}).")
        for name, v in (("threshold", threshold), ("mask_threshold", mask_threshold),
                        ("overlap_mask_area_threshold", overlap_mask_area_threshold)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise UsageError(f"{name} must be a number between 0 and 1, got {v!r}.")
        return {"subtask": subtask, "threshold": threshold, "mask_threshold": mask_threshold,
                "overlap_mask_area_threshold": overlap_mask_area_threshold}

    def split(self, inputs, opts):
        return as_image_list(inputs)

    def preprocess(self, batch, opts) -> Prepared:
        return self.head.preprocess(batch)

    def postprocess(self, prepared, outputs, opts) -> list:
        return [self.head.segments(img, outputs, **opts) for img in prepared.items]
