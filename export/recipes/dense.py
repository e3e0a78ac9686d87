"""Export recipes of the dense-prediction tasks: image-segmentation (SegFormer semantic segmentation,
MaskFormer mask classification) and depth-estimation (GLPN, DPT, Depth Anything). One graph each: pixel_values ->
logits / masks / predicted_depth; the runtime upsamples to the original size (NumPy)."""
from __future__ import annotations

import numpy as np

from edgetool.runtime.errors import UsageError

from . import Recipe, Sample, recipe
from ..graphs import GraphExport, NamedIO
from ..reference import dense as _dense_references  # noqa: F401  (registers the references)
from .text_common import labels
from .vision import _write_preprocessor, preprocessor_config, sample_images, torch_randn


def dense_images() -> list[np.ndarray]:
    """The vision sample pictures at twice their size (74x106, 96x64, 40x40): big enough for GLPN's
    size divisor of 32, still odd sizes so the upsampling back is exercised."""
    return [np.kron(img, np.ones((2, 2, 1), np.uint8)) for img in sample_images()]


def _fixed_size(source, default=(64, 64)) -> tuple[int, int]:
    size = preprocessor_config(source).get("size") or {}
    if isinstance(size, int):
        return size, size
    return size.get("height", default[0]), size.get("width", default[1])


# -- image-segmentation -----------------------------------------------------------------------------
SEGMENTERS = {"segformer": "semantic", "maskformer": "mask-classification"}
SEGMENTATION_CLASSES = {"semantic": "AutoModelForSemanticSegmentation",
                        "mask-classification": "AutoModelForInstanceSegmentation"}


def _segmenter(source) -> str:
    kind = source.config.model_type
    if kind not in SEGMENTERS:
        raise UsageError(f"Image segmentation for model type '{kind}' is not supported (supported: "
                         f"{', '.join(sorted(SEGMENTERS))}).")
    return SEGMENTERS[kind]


def _segmentation_graph(source, opts):
    if _segmenter(source) == "semantic":
        x = {"pixel_values": torch_randn(2, 3, *_fixed_size(source))}
        return [GraphExport("model", NamedIO(source.model, ["pixel_values"], lambda o: (o.logits,)), x, ["logits"],
                            {"pixel_values": {0: "batch"}, "logits": {0: "batch"}})]
    # mask classification: sizes follow the picture (shortest edge, rounded up to size_divisor). The
    # TorchScript exporter drops pixel_mask where the model ignores it (MaskFormer does).
    import torch

    x = {"pixel_values": torch_randn(1, 3, 64, 96), "pixel_mask": torch.ones(1, 64, 96, dtype=torch.int64)}
    outs = ["class_queries_logits", "masks_queries_logits"]
    axes = {"pixel_values": {0: "batch", 2: "height", 3: "width"}, "pixel_mask": {0: "batch", 1: "height", 2: "width"},
            "class_queries_logits": {0: "batch"}, "masks_queries_logits": {0: "batch", 2: "mask_height", 3: "mask_width"}}
    return [GraphExport("model", NamedIO(source.model, list(x), lambda o: (o.class_queries_logits, o.masks_queries_logits)),
                        x, outs, axes, dynamo=False)]


def _segmentation_samples(source) -> list[Sample]:
    base = [Sample([img]) for img in dense_images()] + [Sample([dense_images()[:2]])]
    if _segmenter(source) == "mask-classification":
        base += [Sample([dense_images()[0]], {"subtask": "semantic"}),
                 Sample([dense_images()[1]], {"threshold": 0.5, "overlap_mask_area_threshold": 0.3}),
                 Sample([dense_images()[2]], {"subtask": "instance", "threshold": 0.5})]
    return base


recipe(Recipe(
    task="image-segmentation",
    auto_class=lambda config: SEGMENTATION_CLASSES[SEGMENTERS.get(config.model_type, "semantic")],
    references=("segformer-tiny", "maskformer-tiny"),
    graphs=_segmentation_graph,
    manifest=lambda source: {"processing": {"segmenter": _segmenter(source), "image": preprocessor_config(source)},
                             "labels": labels(source.config)},
    samples=_segmentation_samples,
    files=_write_preprocessor,
))


# -- depth-estimation -------------------------------------------------------------------------------
def _depth_dummy_size(source) -> tuple[int, int]:
    cfg = preprocessor_config(source)
    if "size_divisor" in cfg and "size" not in cfg:  # GLPN: any multiple of the divisor
        d = int(cfg["size_divisor"])
        return 2 * d, 3 * d
    return _fixed_size(source, (384, 384))


def _depth_anything_module(model):
    """DepthAnythingForDepthEstimation's forward with the head's output size kept symbolic: transformers
    computes it with int(), which bakes the traced picture's size into the graph (TorchScript and dynamo
    alike), so one bundle could not serve other aspect ratios. Same arithmetic otherwise."""
    import torch

    class DepthAnythingExport(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):  # (pixel_values,): the exporter's dynamo path passes inputs positionally
            pixel_values = inputs[0]
            m, head = self.model, self.model.head
            features = m.backbone.forward_with_filtered_kwargs(pixel_values).feature_maps
            ph, pw = pixel_values.shape[2] // m.config.patch_size, pixel_values.shape[3] // m.config.patch_size
            hidden = m.neck(features, ph, pw)[head.head_in_index]
            d = torch.nn.functional.interpolate(head.conv1(hidden), (ph * head.patch_size, pw * head.patch_size),
                                                mode="bilinear", align_corners=True)
            d = head.conv3(head.activation1(head.conv2(d)))
            return (head.activation2(d) * head.max_depth).squeeze(dim=1)

    return DepthAnythingExport()


DEPTH_TYPES = ("depth_anything", "dpt", "glpn")


def _depth_graph(source, opts):
    kind = source.config.model_type
    if kind not in DEPTH_TYPES:
        raise UsageError(f"Depth estimation for model type '{kind}' is not supported (supported: "
                         f"{', '.join(DEPTH_TYPES)}).")
    axes = {"pixel_values": {0: "batch", 2: "height", 3: "width"},
            "predicted_depth": {0: "batch", 1: "out_height", 2: "out_width"}}
    if kind == "depth_anything":  # the dynamo exporter keeps the size arithmetic (multiples of 14) symbolic
        x = {"pixel_values": torch_randn(1, 3, 3 * source.config.patch_size, 4 * source.config.patch_size)}
        return [GraphExport("model", _depth_anything_module(source.model), x, ["predicted_depth"], axes, dynamo=True)]
    x = {"pixel_values": torch_randn(1, 3, *_depth_dummy_size(source))}
    return [GraphExport("model", NamedIO(source.model, ["pixel_values"], lambda o: (o.predicted_depth,)), x,
                        ["predicted_depth"], axes)]


recipe(Recipe(
    task="depth-estimation",
    auto_class="AutoModelForDepthEstimation",
    references=("glpn-tiny", "dpt-tiny", "depth-anything-tiny"),
    graphs=_depth_graph,
    manifest=lambda source: {"processing": {"image": preprocessor_config(source)}, "labels": {}},
    samples=lambda source: [Sample([img]) for img in dense_images()] + [Sample([dense_images()[:2]])],
    files=_write_preprocessor,
))
