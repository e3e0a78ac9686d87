"""depth-estimation, answering like transformers' DepthEstimationPipeline: {"predicted_depth": [H, W]
float32 at the original size (bicubic, align_corners=False, as post_process_depth_estimation),
"depth": that map min-max scaled to a mode-"L" PIL image (x 255, truncated to uint8)}."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..preprocess.image import as_image_list
from .base import Pipeline, Prepared

if TYPE_CHECKING:
    from ..heads.image import DepthHead


class DepthEstimationPipeline(Pipeline):
    """One image at a time, like transformers (sizes may differ after resizing)."""

    head: DepthHead

    def split(self, inputs, opts):
        return as_image_list(inputs)

    def preprocess(self, batch, opts) -> Prepared:
        return self.head.preprocess(batch)

    def postprocess(self, prepared, outputs, opts) -> list:
        return [self.head.depth(outputs, img) for img in prepared.items]
