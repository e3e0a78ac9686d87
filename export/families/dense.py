"""Export families of the dense-prediction tasks: image-segmentation (`segformer`: semantic segmentation,
`maskformer`: mask classification) and depth-estimation (`glpn`, `dpt`, `depth-anything`, `zoedepth`). One graph each:
pixel_values -> logits / masks / predicted_depth; the runtime upsamples to the original size (NumPy)."""
from __future__ import annotations

import contextlib

import numpy as np

from edgetool.runtime import names

from . import Adapter, Sample
from ..graphs import GraphExport, NamedIO
from .text import config_labels, ref
from .vision import (_fold_without_col2im, _write_preprocessor, checked_image_config, preprocessor_config,
                     sample_images, torch_randn)


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
def _semantic_graph(source, opts):
    x = {names.PIXEL_VALUES: torch_randn(2, 3, *_fixed_size(source))}
    return [GraphExport("model", NamedIO(source.model, [names.PIXEL_VALUES], lambda o: (o.logits,)), x, [names.LOGITS],
                        {names.PIXEL_VALUES: {0: names.BATCH}, names.LOGITS: {0: names.BATCH}})]


def _mask_classification_graph(source, opts):
    """Sizes follow the picture (shortest edge, rounded up to size_divisor). The TorchScript exporter drops
    pixel_mask where the model ignores it (MaskFormer does)."""
    import torch

    x = {names.PIXEL_VALUES: torch_randn(1, 3, 64, 96), names.PIXEL_MASK: torch.ones(1, 64, 96, dtype=torch.int64)}
    outs = ["class_queries_logits", "masks_queries_logits"]
    axes = {names.PIXEL_VALUES: {0: names.BATCH, 2: names.HEIGHT, 3: names.WIDTH},
            names.PIXEL_MASK: {0: names.BATCH, 1: names.HEIGHT, 2: names.WIDTH},
            "class_queries_logits": {0: names.BATCH},
            "masks_queries_logits": {0: names.BATCH, 2: "mask_height", 3: "mask_width"}}
    return [GraphExport("model", NamedIO(source.model, list(x), lambda o: (o.class_queries_logits, o.masks_queries_logits)),
                        x, outs, axes)]


def _segmentation_samples(source) -> list[Sample]:
    return [Sample([img]) for img in dense_images()] + [Sample([dense_images()[:2]])]


def _mask_classification_samples(source) -> list[Sample]:
    return _segmentation_samples(source) + [
        Sample([dense_images()[0]], {"subtask": "semantic"}),
        Sample([dense_images()[1]], {"threshold": 0.5, "overlap_mask_area_threshold": 0.3}),
        Sample([dense_images()[2]], {"subtask": "instance", "threshold": 0.5})]


def _image_processing(source) -> dict:
    return {"image": preprocessor_config(source)}


SEGFORMER = Adapter(
    task="image-segmentation", family="segformer", model_types=("segformer",),
    auto_class="AutoModelForSemanticSegmentation",
    references=(ref("segformer-tiny", "dense", "segformer_tiny"),),
    graphs=_semantic_graph,
    processing=_image_processing,
    labels=config_labels,
    samples=_segmentation_samples,
    files=_write_preprocessor,
)

def _pixel_logits_graph(source, opts):
    """pixel_values -> logits at the size the runtime's processor produces; height and width stay dynamic
    only where that size follows the picture (DPT's keep_aspect_ratio), else fixed as the processor makes it."""
    from edgetool.runtime.preprocess.image import image_processor

    proc = image_processor(checked_image_config(source))
    shapes = {proc([np.zeros(hw + (3,), np.uint8)])["pixel_values"].shape[2:] for hw in ((64, 64), (48, 96))}
    h, w = max(shapes)
    axes = {0: names.BATCH, **({2: names.HEIGHT, 3: names.WIDTH} if len(shapes) > 1 else {})}
    return [GraphExport("model", NamedIO(source.model, [names.PIXEL_VALUES], lambda o: (o.logits,)),
                        {names.PIXEL_VALUES: torch_randn(2, 3, h, w)}, [names.LOGITS],
                        {names.PIXEL_VALUES: axes, names.LOGITS: {0: names.BATCH}})]


def _semantic(family: str, model_types: tuple[str, ...], references: tuple, patches: tuple = ()) -> Adapter:
    """A semantic-segmentation family: per-pixel logits, SegFormer's post-processing (runtime SemanticHead);
    only the image processor (checked at export: a setting the runtime cannot reproduce stops it) differs."""
    return Adapter(
        task="image-segmentation", family=family, model_types=model_types,
        auto_class="AutoModelForSemanticSegmentation",
        references=references,
        graphs=_pixel_logits_graph,
        processing=lambda source: {"image": checked_image_config(source)},
        labels=config_labels,
        samples=_segmentation_samples,
        files=_write_preprocessor,
        patches=patches,
    )


def _seg_refs(*names_: str) -> tuple:
    return tuple(ref(n, "segmenters", "build_" + n.replace("-", "_")) for n in names_)


# family -> (config.model_types, reference checkpoints (the first is the default), trace patches)
SEMANTIC_SEGMENTERS: dict[str, tuple] = {
    "dpt": (("dpt",), _seg_refs("dpt-segmentation-tiny")),
    "mobilevit": (("mobilevit", "mobilevitv2"), _seg_refs("mobilevit-deeplabv3-tiny", "mobilevitv2-deeplabv3-tiny"),
                  (_fold_without_col2im,)),
    "upernet": (("upernet",), _seg_refs("upernet-convnext-tiny", "upernet-swin-tiny")),
    "beit": (("beit",), _seg_refs("beit-segmentation-tiny")),
}
for _family, _row in SEMANTIC_SEGMENTERS.items():
    globals()[f"SEMANTIC_{_family.upper()}"] = _semantic(_family, *_row)

MASKFORMER = Adapter(
    task="image-segmentation", family="maskformer", model_types=("maskformer",),
    auto_class="AutoModelForInstanceSegmentation",
    references=(ref("maskformer-tiny", "dense", "maskformer_tiny"),),
    graphs=_mask_classification_graph,
    processing=_image_processing,
    labels=config_labels,
    samples=_mask_classification_samples,
    files=_write_preprocessor,
)

def _reference_points(spatial_shapes_list, valid_ratios, device):
    """Mask2FormerPixelDecoderEncoderOnly.get_reference_points with arange instead of linspace + meshgrid (the
    same float32 values: linspace(0.5, n - 0.5, n) is i + 0.5 exactly), which the dynamo exporter keeps
    symbolic in the feature-map sizes."""
    import torch

    refs = []
    for lvl, (height, width) in enumerate(spatial_shapes_list):
        ys = torch.arange(height, dtype=valid_ratios.dtype, device=device) + 0.5
        xs = torch.arange(width, dtype=valid_ratios.dtype, device=device) + 0.5
        ref_y = ys[:, None].expand(height, width).reshape(-1)[None] / (valid_ratios[:, None, lvl, 1] * height)
        ref_x = xs[None, :].expand(height, width).reshape(-1)[None] / (valid_ratios[:, None, lvl, 0] * width)
        refs.append(torch.stack((ref_x, ref_y), -1))
    return torch.cat(refs, 1)[:, :, None] * valid_ratios[:, None]


@contextlib.contextmanager
def symbolic_reference_points(model):
    from transformers.models.mask2former import modeling_mask2former as mod

    cls = mod.Mask2FormerPixelDecoderEncoderOnly
    saved = cls.__dict__["get_reference_points"]
    cls.get_reference_points = staticmethod(_reference_points)
    try:
        yield
    finally:
        cls.get_reference_points = saved


def _mask2former_graph(source, opts):
    """MaskFormer's graph, always traced with dynamo: TorchScript bakes the pixel decoder's feature-map sizes."""
    graphs = _mask_classification_graph(source, opts)
    for g in graphs:
        g.dynamo = True
    return graphs


MASK2FORMER = Adapter(
    task="image-segmentation", family="mask2former", model_types=("mask2former",),
    auto_class="AutoModelForUniversalSegmentation",
    references=(ref("mask2former-tiny", "segmenters", "mask2former_tiny"),),
    graphs=_mask2former_graph,
    processing=lambda source: {"image": checked_image_config(source)},
    labels=config_labels,
    samples=_mask_classification_samples,
    files=_write_preprocessor,
    patches=(symbolic_reference_points,),
)


# -- depth-estimation -------------------------------------------------------------------------------
_DEPTH_AXES = {names.PIXEL_VALUES: {0: names.BATCH, 2: names.HEIGHT, 3: names.WIDTH},
               "predicted_depth": {0: names.BATCH, 1: "out_height", 2: "out_width"}}


def _depth_dummy_size(source) -> tuple[int, int]:
    cfg = preprocessor_config(source)
    if "size_divisor" in cfg and "size" not in cfg:  # GLPN: any multiple of the divisor
        d = int(cfg["size_divisor"])
        return 2 * d, 3 * d
    return _fixed_size(source, (384, 384))


def _depth_graph(source, opts):
    x = {names.PIXEL_VALUES: torch_randn(1, 3, *_depth_dummy_size(source))}
    return [GraphExport("model", NamedIO(source.model, [names.PIXEL_VALUES], lambda o: (o.predicted_depth,)), x,
                        ["predicted_depth"], _DEPTH_AXES)]


def _depth_anything_graph(source, opts):
    """Sizes are multiples of the patch size; the dynamo exporter keeps that arithmetic symbolic."""
    p = source.config.patch_size
    x = {names.PIXEL_VALUES: torch_randn(1, 3, 3 * p, 4 * p)}
    return [GraphExport("model", NamedIO(source.model, [names.PIXEL_VALUES], lambda o: (o.predicted_depth,)), x,
                        ["predicted_depth"], _DEPTH_AXES, dynamo=True)]


@contextlib.contextmanager
def symbolic_head_size(model):
    """DepthAnythingForDepthEstimation's forward with the head's output size kept symbolic: transformers
    computes it with int(), which bakes the traced picture's size into the graph (TorchScript and dynamo
    alike), so one bundle could not serve other aspect ratios. Same arithmetic otherwise."""
    import torch
    from transformers.modeling_outputs import DepthEstimatorOutput

    def forward(pixel_values, **_):
        m, head = model, model.head
        features = m.backbone.forward_with_filtered_kwargs(pixel_values).feature_maps
        ph, pw = pixel_values.shape[2] // m.config.patch_size, pixel_values.shape[3] // m.config.patch_size
        hidden = m.neck(features, ph, pw)[head.head_in_index]
        d = torch.nn.functional.interpolate(head.conv1(hidden), (ph * head.patch_size, pw * head.patch_size),
                                            mode="bilinear", align_corners=True)
        d = head.conv3(head.activation1(head.conv2(d)))
        return DepthEstimatorOutput(predicted_depth=(head.activation2(d) * head.max_depth).squeeze(dim=1))

    had = "forward" in vars(model)
    saved = vars(model).get("forward")
    model.forward = forward
    try:
        yield
    finally:
        if had:
            model.forward = saved
        else:
            del model.forward


def _zoedepth_graph(source, opts):
    """Sizes follow the padded picture's aspect ratio (multiples of ensure_multiple_of): dynamo keeps
    them symbolic with the patches below. The batch stays 1 (the pipeline runs one picture at a time):
    the metric head's reshapes specialise it, and a symbolic batch fails the trace."""
    p = source.config.backbone_config.patch_size
    x = {names.PIXEL_VALUES: torch_randn(1, 3, 3 * p, 4 * p)}
    axes = {k: {d: n for d, n in v.items() if d != 0} for k, v in _DEPTH_AXES.items()}
    return [GraphExport("model", NamedIO(source.model, [names.PIXEL_VALUES], lambda o: (o.predicted_depth,)), x,
                        ["predicted_depth"], axes, dynamo=True)]


def _log_binomial_forward(self, probabilities, temperature=1.0, eps=1e-4):
    """LogBinomialSoftmax.forward with float clamp bounds: torch.clamp(t, 1e-4, 1) (a float and an int)
    makes the dynamo exporter fail (aten.clamp.Tensor_out cannot cast the float). Same values."""
    import torch
    from transformers.models.zoedepth.modeling_zoedepth import log_binom

    if probabilities.ndim == 3:
        probabilities = probabilities.unsqueeze(1)
    one_minus = torch.clamp(1 - probabilities, min=float(eps), max=1.0)
    probabilities = torch.clamp(probabilities, min=float(eps), max=1.0)
    y = (log_binom(self.k_minus_1, self.k_idx) + self.k_idx * torch.log(probabilities)
         + (self.k_minus_1 - self.k_idx) * torch.log(one_minus))
    return self.act(y / temperature, dim=1)


@contextlib.contextmanager
def zoedepth_exportable(model):
    """ZoeDepth under dynamo with dynamic height and width: float clamp bounds (above), and BEiT's
    relative position bias table interpolated to the symbolic window size (transformers' torch_int
    calls int() on it, which bakes the traced picture's window into the graph), and BEiT's attention in
    its eager form (the backbone is built with SDPA whatever the checkpoint is loaded with; SDPA's
    decomposition leaves strides that its .view() cannot take with symbolic sizes). Same arithmetic."""
    from transformers.models.beit import modeling_beit
    from transformers.models.zoedepth import modeling_zoedepth

    cls, sdpa = modeling_zoedepth.LogBinomialSoftmax, modeling_beit.BeitSdpaSelfAttention
    saved = cls.forward, modeling_beit.torch_int, sdpa.__dict__["forward"]
    cls.forward = _log_binomial_forward
    modeling_beit.torch_int = lambda x: x
    sdpa.forward = modeling_beit.BeitSelfAttention.forward
    try:
        yield
    finally:
        cls.forward, modeling_beit.torch_int, sdpa.forward = saved


def _depth(family: str, model_type: str, reference, graphs=_depth_graph, patches=(),
           processing=_image_processing) -> Adapter:
    return Adapter(
        task="depth-estimation", family=family, model_types=(model_type,),
        auto_class="AutoModelForDepthEstimation",
        references=(reference,),
        graphs=graphs,
        processing=processing,
        labels=lambda source: {},
        samples=lambda source: [Sample([img]) for img in dense_images()] + [Sample([dense_images()[:2]])],
        files=_write_preprocessor,
        patches=patches,
    )


GLPN = _depth("glpn", "glpn", ref("glpn-tiny", "dense", "glpn_tiny"))
DPT = _depth("dpt", "dpt", ref("dpt-tiny", "dense", "dpt_tiny"))
DEPTH_ANYTHING = _depth("depth-anything", "depth_anything", ref("depth-anything-tiny", "dense", "depth_anything_tiny"),
                        graphs=_depth_anything_graph, patches=(symbolic_head_size,))
ZOEDEPTH = _depth("zoedepth", "zoedepth", ref("zoedepth-tiny", "dense", "zoedepth_tiny"), graphs=_zoedepth_graph,
                  patches=(zoedepth_exportable,), processing=lambda source: {"image": checked_image_config(source)})
