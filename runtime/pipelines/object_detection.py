"""object-detection, answering like transformers' ObjectDetectionPipeline:
[{"score", "label", "box": {"xmin", "ymin", "xmax", "ymax"}}] in original-image pixels.

The detector family's head (runtime/heads/detection.py: detr, yolo) pre-processes, runs and decodes;
this pipeline checks the options and shapes the result."""
from __future__ import annotations

from ..preprocess.image import as_image_list
from ..heads.detection import DetrHead, YoloHead, check_threshold
from .base import Pipeline, Prepared


def _box(xyxy: list) -> dict:
    xmin, ymin, xmax, ymax = xyxy
    return {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax}


class ObjectDetectionPipeline(Pipeline):
    head: DetrHead | YoloHead

    def setup(self) -> None:
        self.id2label = self.bundle.id2label

    def sanitize(self, threshold: float | None = None, iou_threshold: float | None = None,
                 max_detections: int | None = None) -> dict:
        thr = check_threshold("threshold", self.head.default_threshold if threshold is None else threshold)
        return {"threshold": thr, **self.head.sanitize(iou_threshold, max_detections)}

    def split(self, inputs, opts):
        return as_image_list(inputs)

    def batches(self, items, opts):
        return self.head.batches(items)

    def preprocess(self, batch, opts) -> Prepared:
        return self.head.preprocess(batch, opts)

    def postprocess(self, prepared, outputs, opts) -> list:
        return [[{"score": s, "label": self.id2label[lab], "box": _box(b)} for s, lab, b in found]
                for found in self.head.decode(prepared, outputs, opts)]
