"""Export recipe of object-detection: DETR-family models (transformers) and the YOLO-style detector.

Each family is one entry of FAMILIES (keyed by config.model_type): its graph, its manifest processing
and its golden samples. `--nms-in-graph` (ExportOptions.extra["nms_in_graph"]) appends ONNX
NonMaxSuppression to the YOLO-style graph; its thresholds stay graph inputs, so the runtime's
threshold / iou_threshold / max_detections still apply.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from edgetool.runtime.errors import UsageError
from edgetool.runtime.postprocess.nms import nms

from . import Recipe, Sample, recipe
from ..graphs import GraphExport, NamedIO
from ..reference import detection as _registers_yolo_auto_class  # noqa: F401
from .text_common import labels
from .vision import _write_preprocessor, preprocessor_config, sample_images


class OnnxNms(torch.autograd.Function):
    """ONNX NonMaxSuppression: traced as the ONNX op; in PyTorch (golden recording) the same
    semantics computed with the runtime's NumPy NMS, per batch item and class, highest score first."""

    @staticmethod
    def forward(ctx, boxes, scores, max_per_class, iou_threshold, score_threshold):  # scores [B, C, N]
        rows = []
        b_np, s_np = boxes.detach().numpy(), scores.detach().numpy()
        k, iou, thr = int(max_per_class.reshape(-1)[0]), float(iou_threshold.reshape(-1)[0]), float(score_threshold.reshape(-1)[0])
        for b in range(s_np.shape[0]):
            for c in range(s_np.shape[1]):
                cand = np.nonzero(s_np[b, c] > thr)[0]
                keep = cand[nms(b_np[b, cand], s_np[b, c, cand], np.zeros(len(cand), np.int64), iou)][:k]
                rows += [(b, c, int(i)) for i in keep]
        return torch.tensor(rows, dtype=torch.int64).reshape(-1, 3)

    @staticmethod
    def symbolic(g, boxes, scores, max_per_class, iou_threshold, score_threshold):
        return g.op("NonMaxSuppression", boxes, scores, max_per_class, iou_threshold, score_threshold,
                    center_point_box_i=0)


class YoloWithNms(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values, iou_threshold, score_threshold, max_output_boxes_per_class):
        out = self.model(pixel_values=pixel_values)
        selected = OnnxNms.apply(out["boxes"], out["scores"].transpose(1, 2), max_output_boxes_per_class,
                                 iou_threshold, score_threshold)
        return out["boxes"], out["scores"], selected


def _yolo_graph(source, opts):
    s = source.config.image_size
    x = {"pixel_values": torch.rand(2, 3, s, s)}
    axes = {"pixel_values": {0: "batch"}, "boxes": {0: "batch"}, "scores": {0: "batch"}}
    if not (opts.extra or {}).get("nms_in_graph"):
        return GraphExport("model", NamedIO(source.model, ["pixel_values"], lambda o: (o["boxes"], o["scores"])),
                           x, ["boxes", "scores"], axes, dynamo=False)
    x.update(iou_threshold=torch.tensor([0.45]), score_threshold=torch.tensor([0.25]),
             max_output_boxes_per_class=torch.tensor([100], dtype=torch.int64))
    return GraphExport("model", YoloWithNms(source.model), x, ["boxes", "scores", "selected_indices"],
                       {**axes, "selected_indices": {0: "selected"}}, dynamo=False)  # custom symbolic: TorchScript


def _detr_graph(source, opts):
    if (opts.extra or {}).get("nms_in_graph"):
        raise UsageError("--nms-in-graph applies to YOLO-style detectors; DETR predicts a set and needs no NMS.")
    x = {"pixel_values": torch.randn(1, 3, 48, 64), "pixel_mask": torch.ones(1, 48, 64, dtype=torch.int64)}
    axes = {"pixel_values": {0: "batch", 2: "height", 3: "width"}, "pixel_mask": {0: "batch", 1: "height", 2: "width"},
            "logits": {0: "batch"}, "pred_boxes": {0: "batch"}}
    return GraphExport("model", NamedIO(source.model, list(x), lambda o: (o.logits, o.pred_boxes)), x,
                       ["logits", "pred_boxes"], axes)


@dataclass(frozen=True)
class Family:
    graph: Callable
    processing: Callable
    samples: Callable
    files: Callable


def _images():
    return sample_images()


FAMILIES = {
    "edgetool-yolo": Family(
        graph=_yolo_graph,
        processing=lambda s: {"detector": "yolo", "image_size": s.config.image_size, "pad_value": 114,
                              "iou_threshold": 0.45, "max_detections": 100},
        samples=lambda s: [Sample([img]) for img in _images()] + [
            Sample([_images()]), Sample([_images()[0]], {"threshold": 0.3, "iou_threshold": 0.3, "max_detections": 3})],
        files=lambda s, staging: []),
    "detr": Family(
        graph=_detr_graph,
        processing=lambda s: {"detector": "detr", "image": preprocessor_config(s)},
        samples=lambda s: [Sample([img], {"threshold": 0.0}) for img in _images()] + [Sample([_images()[:2]])],
        files=_write_preprocessor),
}


def family(source) -> Family:
    kind = source.config.model_type
    if kind not in FAMILIES:
        raise UsageError(f"Object detection for model type '{kind}' is not supported (supported: "
                         f"{', '.join(sorted(FAMILIES))}).")
    return FAMILIES[kind]


recipe(Recipe(
    task="object-detection",
    auto_class="AutoModelForObjectDetection",
    references=("yolo-tiny", "detr-tiny"),
    graphs=lambda source, opts: [family(source).graph(source, opts)],
    manifest=lambda source: {"processing": family(source).processing(source), "labels": labels(source.config)},
    samples=lambda source: family(source).samples(source),
    files=lambda source, staging: family(source).files(source, staging),
))
