"""depth-estimation, answering like transformers' DepthEstimationPipeline: {"predicted_depth": [H, W]
float32 at the original size (bicubic, align_corners=False, as post_process_depth_estimation),
"depth": that map min-max scaled to a mode-"L" PIL image (x 255, truncated to uint8)}."""
from __future__ import annotations

import numpy as np

from ..postprocess.draw import save_pictures
from ..postprocess.interpolate import interpolate
from ..preprocess.image import as_image_list, image_processor
from .base import Pipeline


def depth_image(depth: np.ndarray):
    """The pipeline's 8-bit picture: (d - min) / (max - min) * 255 in float32, truncated. A constant map
    (e.g. a 1x1 image) has no range: it becomes black instead of transformers' NaN cast."""
    from PIL import Image

    lo, hi = depth.min(), depth.max()
    if not hi > lo:
        return Image.fromarray(np.zeros(depth.shape, np.uint8))
    return Image.fromarray(((depth - lo) / (hi - lo) * np.float32(255)).astype(np.uint8))


class DepthEstimationPipeline(Pipeline):
    def setup(self) -> None:
        self.processor = image_processor(self.bundle.processing["image"])

    def __call__(self, inputs, save: str | None = None):
        images, single = as_image_list(inputs)
        results = []
        for img in images:  # one at a time, like transformers (sizes may differ after resizing)
            pred = self.run_graph("model", self.processor([img]))["predicted_depth"][0].astype(np.float32)
            depth = interpolate(pred[None], img.shape[:2], "bicubic")[0]
            results.append({"predicted_depth": depth, "depth": depth_image(depth)})
        if save:
            save_pictures(self.bundle.task, images, results, save)
        return results[0] if single else results

    def format(self, result) -> str:
        rows = result if isinstance(result, list) else [result]
        return "\n".join(f"depth map {r['predicted_depth'].shape[1]}x{r['predicted_depth'].shape[0]}: "
                         f"min {r['predicted_depth'].min():.4f}, max {r['predicted_depth'].max():.4f}" for r in rows)
