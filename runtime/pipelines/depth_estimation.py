"""depth-estimation, answering like transformers' DepthEstimationPipeline: {"predicted_depth": [H, W]
float32 at the original size (bicubic, align_corners=False, as post_process_depth_estimation),
"depth": that map min-max scaled to a mode-"L" PIL image (x 255, truncated to uint8)}."""
from __future__ import annotations

import numpy as np

from ..postprocess.draw import save_pictures
from ..postprocess.interpolate import Resizer
from ..preprocess.image import as_image_list, image_processor
from .base import Pipeline


ROW_BLOCK = 256  # output rows computed at once: temporaries stay small next to the H x W result


def upsample_depth(pred: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[h, w] -> [H, W] float32, bicubic like interpolate(mode="bicubic", align_corners=False)."""
    resize = Resizer(pred.shape, size, "bicubic")
    out = np.empty(size, np.float32)
    for r in range(0, size[0], ROW_BLOCK):
        out[r:r + ROW_BLOCK] = resize(pred, r, min(r + ROW_BLOCK, size[0]))
    return out


def depth_image(depth: np.ndarray):
    """The pipeline's 8-bit picture: (d - min) / (max - min) * 255 in float32, truncated. A constant map
    (e.g. a 1x1 image) has no range: it becomes black instead of transformers' NaN cast."""
    from PIL import Image

    lo, hi = depth.min(), depth.max()
    gray = np.zeros(depth.shape, np.uint8)
    if hi > lo:
        for r in range(0, depth.shape[0], ROW_BLOCK):
            gray[r:r + ROW_BLOCK] = ((depth[r:r + ROW_BLOCK] - lo) / (hi - lo) * np.float32(255)).astype(np.uint8)
    return Image.fromarray(gray)


class DepthEstimationPipeline(Pipeline):
    def setup(self) -> None:
        self.processor = image_processor(self.bundle.processing["image"])

    def __call__(self, inputs, save: str | None = None):
        images, single = as_image_list(inputs)
        results = []
        for img in images:  # one at a time, like transformers (sizes may differ after resizing)
            pred = self.run_graph("model", self.processor([img]))["predicted_depth"][0].astype(np.float32)
            depth = upsample_depth(pred, img.shape[:2])
            results.append({"predicted_depth": depth, "depth": depth_image(depth)})
        if save:
            save_pictures(self.bundle.task, images, results, save)
        return results[0] if single else results

    def format(self, result) -> str:
        rows = result if isinstance(result, list) else [result]
        return "\n".join(f"depth map {r['predicted_depth'].shape[1]}x{r['predicted_depth'].shape[0]}: "
                         f"min {r['predicted_depth'].min():.4f}, max {r['predicted_depth'].max():.4f}" for r in rows)
