"""object-detection, answering like transformers' ObjectDetectionPipeline:
[{"score", "label", "box": {"xmin", "ymin", "xmax", "ymax"}}] in original-image pixels.

Two detector families, picked by the bundle's processing["detector"]:
- "detr": set prediction; softmax over classes + no-object, score > threshold, boxes scaled to the image.
- "yolo": dense anchor-free head on a letterboxed canvas; score filtering, class-aware NMS (NumPy, or
  ONNX NonMaxSuppression inside the graph when it was exported with --nms-in-graph), un-letterboxing.
"""
from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..postprocess.activations import ACTIVATIONS
from ..postprocess.nms import detect, gather_selected
from ..preprocess.image import as_image_list, image_processor
from ..preprocess.letterbox import letterbox
from .base import Pipeline


def _box(xyxy: list) -> dict:
    xmin, ymin, xmax, ymax = xyxy
    return {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax}


def _int_boxes(boxes) -> list:
    """Like the pipeline's box.int() on float32 boxes: truncation toward zero."""
    return np.trunc(np.asarray(boxes, dtype=np.float32).reshape(-1, 4)).astype(np.int64).tolist()


def _check_threshold(name: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
        raise UsageError(f"{name} must be a number between 0 and 1, got {v!r}.")
    return float(v)


class DetrDecoder:
    default_threshold = 0.5  # the transformers pipeline's

    def __init__(self, pipe: "ObjectDetectionPipeline"):
        self.pipe, self.processor = pipe, image_processor(pipe.bundle.processing["image"])

    def __call__(self, images, threshold, **_) -> list[list]:
        results = []
        for img in images:  # one at a time, like the transformers pipeline
            out = self.pipe.run_graph("model", self.processor([img]))
            prob = ACTIVATIONS["softmax"](out["logits"][0].astype(np.float32))[:, :-1]
            scores, labels = prob.max(-1), prob.argmax(-1)
            cx, cy, w, h = np.moveaxis(out["pred_boxes"][0].astype(np.float32), -1, 0)
            boxes = np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], -1)
            H, W = img.shape[:2]
            boxes = boxes * np.asarray([W, H, W, H], dtype=np.float32)
            keep = scores > threshold
            results.append(list(zip(scores[keep].tolist(), labels[keep].tolist(), _int_boxes(boxes[keep]))))
        return results


class YoloDecoder:
    default_threshold = 0.25

    def __init__(self, pipe: "ObjectDetectionPipeline"):
        p = pipe.bundle.processing
        self.pipe, self.size, self.pad = pipe, int(p["image_size"]), int(p.get("pad_value", 114))
        self.defaults = {"iou_threshold": float(p.get("iou_threshold", 0.45)),
                         "max_detections": int(p.get("max_detections", 100))}
        self.in_graph = any(t.name == "selected_indices" for t in pipe.bundle.graphs["model"].outputs)

    def raw(self, images, threshold, iou_threshold, max_detections):
        """Per image: (boxes [K, 4] in original pixels, scores [K], labels [K]), one engine call per batch."""
        canvases, maps = zip(*(letterbox(img, self.size, self.pad) for img in images))
        feeds = {"pixel_values": np.stack(canvases).astype(np.float32)}
        if self.in_graph:
            feeds.update(iou_threshold=np.asarray([iou_threshold], np.float32),
                         score_threshold=np.asarray([threshold], np.float32),
                         max_output_boxes_per_class=np.asarray([max_detections], np.int64))
        out = self.pipe.run_graph("model", feeds)
        boxes, scores = out["boxes"].astype(np.float32), out["scores"].astype(np.float32)
        found = []
        for i, m in enumerate(maps):
            if self.in_graph:
                b, s, lab = gather_selected(boxes, scores, out["selected_indices"].astype(np.int64), i, max_detections)
            else:
                b, s, lab = detect(boxes[i], scores[i], threshold, iou_threshold, max_detections)
            found.append((m.unmap(b), s, lab))
        return found

    def __call__(self, images, threshold, iou_threshold=None, max_detections=None) -> list[list]:
        iou = _check_threshold("iou_threshold", self.defaults["iou_threshold"] if iou_threshold is None else iou_threshold)
        md = self.defaults["max_detections"] if max_detections is None else max_detections
        if isinstance(md, bool) or not isinstance(md, int) or md < 1:
            raise UsageError(f"max_detections must be a positive integer, got {md!r}.")
        return [list(zip(s.tolist(), lab.tolist(), _int_boxes(b))) for b, s, lab in self.raw(images, threshold, iou, md)]


DECODERS = {"detr": DetrDecoder, "yolo": YoloDecoder}


class ObjectDetectionPipeline(Pipeline):
    def setup(self) -> None:
        kind = self.bundle.processing.get("detector")
        if kind not in DECODERS:
            raise UsageError(f"This bundle's detector '{kind}' is not supported (known: {', '.join(DECODERS)}); "
                             "re-export it with this version of edgetool.")
        self.decoder = DECODERS[kind](self)
        self.id2label = self.bundle.id2label

    def __call__(self, inputs, threshold: float | None = None, iou_threshold: float | None = None,
                 max_detections: int | None = None, save: str | None = None):
        images, single = as_image_list(inputs)
        thr = _check_threshold("threshold", self.decoder.default_threshold if threshold is None else threshold)
        extra = {} if iou_threshold is None and max_detections is None else \
            {"iou_threshold": iou_threshold, "max_detections": max_detections}
        if extra and not isinstance(self.decoder, YoloDecoder):
            raise UsageError("iou_threshold / max_detections apply to YOLO-style detectors only; DETR needs no NMS.")
        results = [[{"score": s, "label": self.id2label[lab], "box": _box(b)} for s, lab, b in found]
                   for found in self.decoder(images, thr, **extra)]
        if save:  # the pictures helper moved out of runtime/ (edgetool/pictures.py); the CLI handles --save
            from ..postprocess.draw import save_pictures

            save_pictures(self.bundle.task, images, results, save)
        return results[0] if single else results

    def format(self, result) -> str:
        rows = result if result and isinstance(result[0], list) else [result]
        return "\n\n".join("\n".join(f"{d['label']:<16} {d['score']:.4f}  ({d['box']['xmin']}, {d['box']['ymin']}, "
                                      f"{d['box']['xmax']}, {d['box']['ymax']})" for d in row) or "(no detections)"
                           for row in rows)
