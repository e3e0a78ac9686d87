"""Export families of object-detection: `detr` (transformers DETR; its variants `table-transformer`,
`conditional-detr`, `yolos`, `rt-detr` (v1 and v2), `d-fine`, `deformable-detr`) and `yolo` (edgetool's YOLO-style
detector, model type edgetool-yolo). `--nms-in-graph` (ExportOptions.extra["nms_in_graph"]) appends ONNX
NonMaxSuppression to the YOLO-style graph; its thresholds stay graph inputs, so the runtime's
threshold / iou_threshold / max_detections still apply.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch

from edgetool.runtime.errors import UnsupportedError, UsageError
from edgetool.runtime.postprocess.nms import nms

from edgetool.runtime import names

from dataclasses import replace

from . import Adapter, Sample
from ..reference import detection as _registers_yolo_auto_class  # noqa: F401  (Auto classes load edgetool-yolo)
from ..graphs import GraphExport, NamedIO
from .text import config_labels, ref
from .vision import _write_preprocessor, checked_image_config, preprocessor_config, sample_images


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
    x = {names.PIXEL_VALUES: torch.rand(2, 3, s, s)}
    axes = {names.PIXEL_VALUES: {0: names.BATCH}, "boxes": {0: names.BATCH}, "scores": {0: names.BATCH}}
    if not (opts.extra or {}).get("nms_in_graph"):
        return [GraphExport("model", NamedIO(source.model, [names.PIXEL_VALUES], lambda o: (o["boxes"], o["scores"])),
                            x, ["boxes", "scores"], axes)]
    x.update(iou_threshold=torch.tensor([0.45]), score_threshold=torch.tensor([0.25]),
             max_output_boxes_per_class=torch.tensor([100], dtype=torch.int64))
    return [GraphExport("model", YoloWithNms(source.model), x, ["boxes", "scores", "selected_indices"],
                        {**axes, "selected_indices": {0: "selected"}}, dynamo=False)]  # custom symbolic: TorchScript


def _detr_graph(source, opts, size: tuple[int, int] = (48, 64), batch: bool = True):
    if (opts.extra or {}).get("nms_in_graph"):
        raise UsageError("--nms-in-graph applies to YOLO-style detectors; DETR predicts a set and needs no NMS.")
    h, w = size
    x = {names.PIXEL_VALUES: torch.randn(1, 3, h, w), names.PIXEL_MASK: torch.ones(1, h, w, dtype=torch.int64)}
    axes = {names.PIXEL_VALUES: {0: names.BATCH, 2: names.HEIGHT, 3: names.WIDTH},
            names.PIXEL_MASK: {0: names.BATCH, 1: names.HEIGHT, 2: names.WIDTH},
            names.LOGITS: {0: names.BATCH}, "pred_boxes": {0: names.BATCH}}
    if not batch:
        axes = {k: {i: n for i, n in v.items() if n != names.BATCH} for k, v in axes.items()}
    return [GraphExport("model", NamedIO(source.model, list(x), lambda o: (o.logits, o.pred_boxes)), x,
                        [names.LOGITS, "pred_boxes"], axes)]


def _pixels_graph(source, opts):
    """YOLOS, RT-DETR: one input, pixel_values (neither model reads a pixel mask), any height and width;
    traced at the size the runtime's processor gives a 48x64 picture."""
    from edgetool.runtime.preprocess.image import image_processor

    if (opts.extra or {}).get("nms_in_graph"):
        raise UsageError("--nms-in-graph applies to YOLO-style detectors; DETR-style models predict a set and need no NMS.")
    _, _, h, w = image_processor(preprocessor_config(source))([np.zeros((48, 64, 3), np.uint8)])["pixel_values"].shape
    x = {names.PIXEL_VALUES: torch.randn(1, 3, h, w)}
    axes = {names.PIXEL_VALUES: {0: names.BATCH, 2: names.HEIGHT, 3: names.WIDTH},
            names.LOGITS: {0: names.BATCH}, "pred_boxes": {0: names.BATCH}}
    return [GraphExport("model", NamedIO(source.model, list(x), lambda o: (o.logits, o.pred_boxes)), x,
                        [names.LOGITS, "pred_boxes"], axes)]


def _images():
    return sample_images()


YOLO = Adapter(
    task="object-detection", family="yolo", model_types=("edgetool-yolo",),
    no_pipeline_reference="transformers has no object-detection pipeline for YOLO-style models (no image processor); "
                          "the answers are checked against PyTorch through the golden tensors and task metric",
    auto_class="AutoModelForObjectDetection",
    references=(ref("yolo-tiny", "detection", "yolo_tiny"),),
    graphs=_yolo_graph,
    processing=lambda s: {"image_size": s.config.image_size, "pad_value": 114, "iou_threshold": 0.45,
                          "max_detections": 100},
    labels=config_labels,
    samples=lambda s: [Sample([img]) for img in _images()] + [
        Sample([_images()]), Sample([_images()[0]], {"threshold": 0.3, "iou_threshold": 0.3, "max_detections": 3})],
    files=lambda s, staging: [],
)

DETR = Adapter(
    task="object-detection", family="detr", model_types=("detr",),
    auto_class="AutoModelForObjectDetection",
    references=(ref("detr-tiny", "detection", "detr_tiny"),),
    graphs=_detr_graph,
    processing=lambda s: {"image": preprocessor_config(s)},
    labels=config_labels,
    samples=lambda s: [Sample([img], {"threshold": 0.0}) for img in _images()] + [Sample([_images()[:2]])],
    files=_write_preprocessor,
)

# DETR variants: a registry entry each. Table Transformer is DETR's architecture and post-processing
# (softmax with a no-object class); Conditional DETR has DETR's graph and processor, and its own
# post-processing (sigmoid scores, top-100 over queries x classes: runtime head ConditionalDetrHead).
TABLE_TRANSFORMER = replace(DETR, family="table-transformer", model_types=("table-transformer",),
                            references=(ref("table-transformer-tiny", "detr_variants", "table_transformer_tiny"),))
CONDITIONAL_DETR = replace(DETR, family="conditional-detr", model_types=("conditional_detr",),
                           references=(ref("conditional-detr-tiny", "detr_variants", "conditional_detr_tiny"),))
# YOLOS: a ViT with detection tokens; pixel_values only, its own processor (sizes in multiples of 16,
# runtime/preprocess/detr_image.py), DETR's post-processing.
_CHECKED = {"processing": lambda s: {"image": checked_image_config(s)}}
YOLOS = replace(DETR, family="yolos", model_types=("yolos",), graphs=_pixels_graph, dynamo=False, **_CHECKED,
                references=(ref("yolos-tiny", "detr_variants", "yolos_tiny"),))
# RT-DETR v1/v2: pixel_values only, RTDetrImageProcessor (fixed size, no normalization by default), its own
# post-processing (sigmoid, top k = number of queries over queries x classes: runtime head RtDetrHead).
# Both trace with TorchScript by default (docs/decisions.md: same dynamic-size graph, a third of the time).
RT_DETR = replace(DETR, family="rt-detr", model_types=("rt_detr", "rt_detr_v2"), graphs=_pixels_graph,
                  dynamo=False, **_CHECKED,
                  references=(ref("rt-detr-tiny", "detr_variants", "rt_detr_tiny"),
                              ref("rt-detr-v2-tiny", "detr_variants", "rt_detr_v2_tiny")))
# D-FINE: RT-DETR's inputs, processor (D-FINE checkpoints ship RTDetrImageProcessor) and post-processing;
# its fine-grained box distributions stay inside the graph (pred_boxes is what the pipeline reads).
D_FINE = replace(RT_DETR, family="d-fine", model_types=("d_fine",),
                 references=(ref("d-fine-tiny", "detr_variants", "d_fine_tiny"),))


def _shapes_tensor(as_tensor):
    """torch.as_tensor that builds a list of (height, width) SymInts into a tensor element by element, as
    RT-DETR's code does, instead of reading their traced values (which freezes every picture size to the
    traced one); anything else goes to torch.as_tensor."""
    def shapes_as_tensor(data, dtype=None, device=None):
        rows = data if isinstance(data, (list, tuple)) else ()
        if rows and all(isinstance(r, tuple) for r in rows) and any(isinstance(v, torch.SymInt) for r in rows for v in r):
            out = torch.empty((len(rows), len(rows[0])), dtype=dtype or torch.long, device=device)
            for i, row in enumerate(rows):
                for j, v in enumerate(row):
                    out[i, j] = v
            return out
        return as_tensor(data, dtype=dtype, device=device)

    return shapes_as_tensor


@contextlib.contextmanager
def deformable_symbolic_shapes(model):
    """Deformable DETR traced with its feature-map sizes symbolic: the multi-scale shapes tensor built from the
    sizes (not their traced values) and the encoder's reference points from arange (dense._reference_points,
    Mask2Former's pixel decoder has the same encoder). Two-stage models also build proposals from linspace
    over the sizes; they are refused (no patch for that yet)."""
    from transformers.models.deformable_detr import modeling_deformable_detr as mod

    from .dense import _reference_points

    if getattr(model.config, "two_stage", False):
        raise UnsupportedError("Family 'deformable-detr': two-stage checkpoints (config two_stage=true) are not "
                               "exportable yet: their encoder proposals are built from the traced picture size.")
    enc, as_tensor = mod.DeformableDetrEncoder, torch.as_tensor
    saved = enc.__dict__["get_reference_points"]
    enc.get_reference_points = staticmethod(_reference_points)
    torch.as_tensor = _shapes_tensor(as_tensor)
    try:
        yield
    finally:
        enc.get_reference_points = saved
        torch.as_tensor = as_tensor


def _deformable_graph(source, opts):
    """DETR's graph traced at the size the processor gives a 480x640 picture (a tiny trace size would make the
    extra stride-64 level 1x1, where PyTorch's GroupNorm refuses one value per channel); the batch stays 1
    (the trace specialises it; the pipeline runs one picture at a time anyway)."""
    from edgetool.runtime.preprocess.image import image_processor

    _, _, h, w = image_processor(preprocessor_config(source))([np.zeros((480, 640, 3), np.uint8)])["pixel_values"].shape
    return _detr_graph(source, opts, (h, w), batch=False)


# Deformable DETR: DETR's inputs (pixel mask too) and processor, Conditional DETR's post-processing (sigmoid,
# top 100 over queries x classes); traced with dynamo and the patch above.
DEFORMABLE_DETR = replace(DETR, family="deformable-detr", model_types=("deformable_detr",),
                          graphs=_deformable_graph, patches=(deformable_symbolic_shapes,),
                          references=(ref("deformable-detr-tiny", "detr_variants", "deformable_detr_tiny"),))
