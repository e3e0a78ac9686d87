"""object-detection heads. Each turns images into (score, label id, [xmin, ymin, xmax, ymax]) per
detection, in original-image pixels (truncated like the pipeline's box.int()).

Hooks the object-detection pipeline calls: `default_threshold`, `sanitize(iou_threshold,
max_detections)`, `batches(images)`, `preprocess(images, opts)`, `forward(feeds)`, `decode(prepared,
outputs, opts)`.
- detr (and table-transformer, yolos): set prediction; softmax over classes + no-object, score > threshold,
  boxes scaled to the image. conditional-detr, deformable-detr: sigmoid scores, top 100 over queries x
  classes; rt-detr (v1/v2): the same with top k = the number of queries (postprocess/set_detection.py).
- yolo: dense anchor-free head on a letterboxed canvas; score filtering, class-aware NMS (NumPy, or
  ONNX NonMaxSuppression inside the graph when it was exported with --nms-in-graph), un-letterboxing.
"""
from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..names import LOGITS, PIXEL_VALUES
from ..postprocess.nms import detect, gather_selected
from ..postprocess.set_detection import sigmoid_top_k, softmax_sets
from ..preprocess.image import image_processor
from ..preprocess.letterbox import letterbox
from .base import Head, Prepared


def int_boxes(boxes) -> list:
    """Like the pipeline's box.int() on float32 boxes: truncation toward zero."""
    return np.trunc(np.asarray(boxes, dtype=np.float32).reshape(-1, 4)).astype(np.int64).tolist()


def check_threshold(name: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
        raise UsageError(f"{name} must be a number between 0 and 1, got {v!r}.")
    return float(v)


class DetrHead(Head):
    default_threshold = 0.5  # the transformers pipeline's

    def setup(self) -> None:
        self.processor = image_processor(self.bundle.processing["image"])

    def sanitize(self, iou_threshold=None, max_detections=None) -> dict:
        if iou_threshold is not None or max_detections is not None:
            raise UsageError("iou_threshold / max_detections apply to YOLO-style detectors only; DETR needs no NMS.")
        return {}

    def batches(self, images: list):
        return ([img] for img in images)  # one at a time, like the transformers pipeline

    def preprocess(self, images: list, opts: dict):
        return Prepared(images, self.processor(images))

    def decode(self, prepared, out: dict, opts: dict) -> list[list]:
        (img,) = prepared.items
        h, w = img.shape[:2]
        found = softmax_sets(out[LOGITS][0], out["pred_boxes"][0], h, w, opts["threshold"])
        return [_answer(*found)]


class ConditionalDetrHead(DetrHead):
    """Conditional DETR and Deformable DETR: sigmoid per class (no no-object class), the top 100 of
    queries x classes, then score > threshold; boxes as DETR's."""

    top_k: int | None = 100

    def decode(self, prepared, out: dict, opts: dict) -> list[list]:
        (img,) = prepared.items
        h, w = img.shape[:2]
        found = sigmoid_top_k(out[LOGITS][0], out["pred_boxes"][0], h, w, opts["threshold"], self.top_k)
        return [_answer(*found)]


class RtDetrHead(ConditionalDetrHead):
    """RT-DETR v1/v2 and D-FINE: as Conditional DETR with the top k = the number of queries
    (RTDetrImageProcessor.post_process_object_detection)."""

    top_k = None


def _answer(scores, labels, boxes) -> list:
    return list(zip(scores.tolist(), labels.tolist(), int_boxes(boxes)))


class YoloHead(Head):
    default_threshold = 0.25

    def setup(self) -> None:
        p = self.bundle.processing
        self.size, self.pad = int(p["image_size"]), int(p.get("pad_value", 114))
        self.defaults = {"iou_threshold": float(p.get("iou_threshold", 0.45)),
                         "max_detections": int(p.get("max_detections", 100))}
        self.in_graph = any(t.name == "selected_indices" for t in self.bundle.graphs["model"].outputs)

    def sanitize(self, iou_threshold=None, max_detections=None) -> dict:
        iou = check_threshold("iou_threshold", self.defaults["iou_threshold"] if iou_threshold is None else iou_threshold)
        md = self.defaults["max_detections"] if max_detections is None else max_detections
        if isinstance(md, bool) or not isinstance(md, int) or md < 1:
            raise UsageError(f"max_detections must be a positive integer, got {md!r}.")
        return {"iou_threshold": iou, "max_detections": md}

    def batches(self, images: list):
        return iter([images])  # one engine call for the whole batch

    def preprocess(self, images: list, opts: dict):
        canvases, maps = zip(*(letterbox(img, self.size, self.pad) for img in images))
        feeds = {PIXEL_VALUES: np.stack(canvases).astype(np.float32)}
        if self.in_graph:
            feeds.update(iou_threshold=np.asarray([opts["iou_threshold"]], np.float32),
                         score_threshold=np.asarray([opts["threshold"]], np.float32),
                         max_output_boxes_per_class=np.asarray([opts["max_detections"]], np.int64))
        return Prepared(images, feeds, extra=maps)

    def raw(self, images: list, threshold: float, iou_threshold: float, max_detections: int) -> list:
        """Per image: (boxes [K, 4] in original pixels, scores [K], labels [K]), one engine call per batch."""
        opts = {"threshold": threshold, "iou_threshold": iou_threshold, "max_detections": max_detections}
        prepared = self.preprocess(images, opts)
        return self._found(prepared, self.forward(prepared.feeds), opts)

    def _found(self, prepared, out: dict, opts: dict) -> list:
        boxes, scores = out["boxes"].astype(np.float32), out["scores"].astype(np.float32)
        found = []
        for i, m in enumerate(prepared.extra):
            if self.in_graph:
                b, s, lab = gather_selected(boxes, scores, out["selected_indices"].astype(np.int64), i,
                                            opts["max_detections"])
            else:
                b, s, lab = detect(boxes[i], scores[i], opts["threshold"], opts["iou_threshold"], opts["max_detections"])
            found.append((m.unmap(b), s, lab))
        return found

    def decode(self, prepared, out: dict, opts: dict) -> list[list]:
        return [list(zip(s.tolist(), lab.tolist(), int_boxes(b))) for b, s, lab in self._found(prepared, out, opts)]
