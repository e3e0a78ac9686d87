"""Heads of the single-graph image tasks whose families differ only in their image processor (which
the bundle's preprocessor config selects): image-classification (vit, convnext) and depth-estimation
(glpn, dpt, depth-anything: one graph pixel_values -> predicted_depth at the model's resolution)."""
from __future__ import annotations

import numpy as np

from ..postprocess.depth import depth_image, upsample_depth
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
