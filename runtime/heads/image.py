"""Heads of the single-graph image tasks whose families differ only in their image processor (which
the bundle's preprocessor config selects): image-classification (vit, convnext) and depth-estimation
(glpn, dpt, depth-anything, zoedepth: one graph pixel_values -> predicted_depth at the model's resolution)."""
from __future__ import annotations

import numpy as np

from ..postprocess.depth import depth_image, upsample_depth
from ..preprocess.dense_image import zoe_padding
from ..preprocess.image import image_processor
from .base import Head, Prepared


class ImageHead(Head):
    """preprocess(images) -> Prepared; forward(feeds) -> the graph's outputs."""

    def setup(self) -> None:
        self.processor = image_processor(self.bundle.processing["image"])

    def preprocess(self, images: list) -> Prepared:
        return Prepared(images, self.processor(images))


class DepthHead(ImageHead):
    """depth(outputs, image) -> {"predicted_depth" at the image's size (bicubic), "depth" picture}."""

    def depth(self, out: dict, img: np.ndarray) -> dict:
        pred = out["predicted_depth"][0].astype(np.float32)
        depth = upsample_depth(pred, img.shape[:2])
        return {"predicted_depth": depth, "depth": depth_image(depth)}


class ZoeDepthHead(DepthHead):
    """ZoeDepth: the prediction covers the reflection-padded picture; it is upsampled (bicubic) to the
    padded size and the padding cut off, as ZoeDepthImageProcessor.post_process_depth_estimation does
    with the pipeline's arguments (source size = the picture, no flipped-input averaging)."""

    def depth(self, out: dict, img: np.ndarray) -> dict:
        pred = out["predicted_depth"][0].astype(np.float32)
        h, w = img.shape[:2]
        ph, pw = zoe_padding(h, w) if self.bundle.processing["image"].get("do_pad", True) else (0, 0)
        depth = np.ascontiguousarray(upsample_depth(pred, (h + 2 * ph, w + 2 * pw))[ph:ph + h, pw:pw + w])
        return {"predicted_depth": depth, "depth": depth_image(depth)}
