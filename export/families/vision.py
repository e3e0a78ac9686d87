"""Export families of the vision tasks: image-classification (the CLASSIFIERS table) and image-to-text
(`vision-encoder-decoder`, which needs the image processor too)."""
from __future__ import annotations

import json
import shutil
import types
from contextlib import contextmanager

import numpy as np

from edgetool.runtime import names

from . import Adapter, ReferenceModel, Sample
from ..graphs import GraphExport, NamedIO
from ..graphs_generation import seq2seq_graphs
from .generation import BEAM, GREEDY, generation, text_processing
from .text import config_labels, ref
from .text_common import write_tokenizer


def preprocessor_config(source) -> dict:
    path = source.path / "preprocessor_config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{source.path} has no preprocessor_config.json (needed for image tasks)")
    return json.loads(path.read_text(encoding="utf-8"))


def checked_image_config(source) -> dict:
    """The preprocessor config, after the runtime's processor accepted every setting in it: a setting it
    cannot reproduce stops the export here (UnsupportedError naming key and value), before any file."""
    from edgetool.runtime.preprocess.image import image_processor

    cfg = preprocessor_config(source)
    image_processor(cfg)
    return cfg


def sample_images() -> list[np.ndarray]:
    """Deterministic test pictures of odd sizes (gradients and blocks, not noise)."""
    rng = np.random.default_rng(0)
    h, w = 37, 53
    grad = np.stack([*np.meshgrid(np.linspace(0, 255, w), np.linspace(0, 255, h)), np.full((h, w), 128.0)], -1)
    blocks = np.kron(rng.integers(0, 255, (6, 4, 3)), np.ones((8, 8, 1)))
    return [grad.astype(np.uint8), blocks.astype(np.uint8), rng.integers(0, 255, (20, 20, 3)).astype(np.uint8)]


def _image_graph(source, opts):
    from edgetool.runtime.preprocess.image import image_processor

    # The pixel size the runtime's processor produces (after any resize / centre crop) for a square picture.
    _, _, h, w = image_processor(preprocessor_config(source))([np.zeros((64, 64, 3), np.uint8)])["pixel_values"].shape
    x = {names.PIXEL_VALUES: torch_randn(2, 3, h, w)}
    return [GraphExport("model", NamedIO(source.model, [names.PIXEL_VALUES], lambda o: (o.logits,)), x, [names.LOGITS],
                        {names.PIXEL_VALUES: {0: names.BATCH}, names.LOGITS: {0: names.BATCH}})]


def torch_randn(*shape):
    import torch

    return torch.randn(*shape)


def _write_preprocessor(source, staging) -> list[str]:
    shutil.copyfile(source.path / "preprocessor_config.json", staging / "preprocessor_config.json")
    return ["preprocessor_config.json"]


def _classifier(family: str, model_types: tuple[str, ...], references: tuple[ReferenceModel, ...],
                architectures: tuple[str, ...] = (), patches: tuple = ()) -> Adapter:
    return Adapter(
        task="image-classification", family=family, model_types=model_types,
        auto_class="AutoModelForImageClassification",
        references=references,
        graphs=_image_graph,
        processing=lambda source: {"image": checked_image_config(source),
                                   "problem_type": getattr(source.config, "problem_type", None)},
        labels=config_labels,
        samples=lambda source: [Sample([img]) for img in sample_images()[:2]] + [Sample([sample_images()[2]], {"top_k": 2})],
        files=_write_preprocessor,
        architectures=architectures,
        patches=patches,
    )


@contextmanager
def _global_pooling(model):
    """EfficientNet pools with AvgPool2d(kernel=hidden_dim, ceil_mode=True), a kernel larger than the
    feature map (1280 vs 7 for B0): ONNX Runtime accepts it, OpenVINO refuses it. It is a global pooling:
    trace that instead (same values)."""
    import torch

    base = getattr(model, "efficientnet", None)
    pool = getattr(base, "pooler", None)
    if pool is None:
        yield
        return
    base.pooler = torch.nn.AdaptiveMaxPool2d(1) if isinstance(pool, torch.nn.MaxPool2d) else torch.nn.AdaptiveAvgPool2d(1)
    try:
        yield
    finally:
        base.pooler = pool


def _fold_by_reshape(self, patches, output_size):
    """MobileViTV2Layer.folding without aten::col2im (ONNX opset 18): the patches do not overlap, so
    folding is a reshape and a transpose."""
    b, c, _, _ = patches.shape
    ph, pw = self.patch_height, self.patch_width
    h, w = output_size
    x = patches.reshape(b, c, ph, pw, h // ph, w // pw).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(b, c, h // ph * ph, w // pw * pw)


@contextmanager
def _fold_without_col2im(model):
    layers = [m for m in model.modules() if type(m).__name__ == "MobileViTV2Layer"]
    for m in layers:
        m.folding = types.MethodType(_fold_by_reshape, m)
    try:
        yield
    finally:
        for m in layers:
            del m.folding


def _refs(*names: str) -> tuple[ReferenceModel, ...]:
    return tuple(ref(n, "classifiers", "build_" + n.replace("-", "_")) for n in names)


# family -> (config.model_types, reference checkpoints (the first is the default), head classes by name,
# trace patches).
# Every family here reuses the plain logits graph and the image-classification head; the image processor
# (runtime/preprocess/classify_image.SPECS) comes from the checkpoint's preprocessor_config.json.
CLASSIFIERS: dict[str, tuple] = {
    "vit": (("vit",), (ref("vit-tiny-classifier", "vision", "vit_tiny_classifier"),), ()),
    "deit": (("deit",), _refs("deit-tiny-classifier", "deit-distilled-tiny-classifier"),
             ("DeiTForImageClassificationWithTeacher",)),
    "beit": (("beit",), _refs("beit-tiny-classifier"), ()),
    "swin": (("swin", "swinv2"), _refs("swin-tiny-classifier", "swinv2-tiny-classifier"), ()),
    "convnext": (("convnext", "convnextv2"),
                 (ref("convnext-tiny-classifier", "vision", "convnext_tiny_classifier"),
                  *_refs("convnextv2-tiny-classifier")), ()),
    "resnet": (("resnet",), _refs("resnet-tiny-classifier"), ()),
    "regnet": (("regnet",), _refs("regnet-tiny-classifier"), ()),
    "mobilenet": (("mobilenet_v1", "mobilenet_v2"), _refs("mobilenet-v1-tiny-classifier", "mobilenet-v2-tiny-classifier"),
                  ()),
    "efficientnet": (("efficientnet",), _refs("efficientnet-tiny-classifier"), (), (_global_pooling,)),
    "mobilevit": (("mobilevit", "mobilevitv2"), _refs("mobilevit-tiny-classifier", "mobilevitv2-tiny-classifier"), (),
                  (_fold_without_col2im,)),
    "dinov2": (("dinov2",), _refs("dinov2-tiny-classifier"), ()),
    "levit": (("levit",), _refs("levit-tiny-classifier"), ("LevitForImageClassificationWithTeacher",)),
    "poolformer": (("poolformer",), _refs("poolformer-tiny-classifier"), ()),
}
for _family, _row in CLASSIFIERS.items():
    globals()[_family.upper()] = _classifier(_family, *_row)


def _vision_seq2seq_graphs(source, opts):
    size = preprocessor_config(source).get("size", {})
    x = {names.PIXEL_VALUES: torch_randn(2, 3, size.get("height", 32), size.get("width", 32))}
    start = source.model.generation_config.decoder_start_token_id
    return seq2seq_graphs(source.model, x, {names.PIXEL_VALUES: {0: names.BATCH}}, int(start), uses_mask=False)


VISION_ENCODER_DECODER = Adapter(
    task="image-to-text", family="vision-encoder-decoder", model_types=("vision-encoder-decoder",),
    auto_class="AutoModelForImageTextToText",  # transformers 5 removed AutoModelForVision2Seq
    references=(ref("vit-gpt2-tiny", "generation", "vit_gpt2_tiny"),),
    graphs=_vision_seq2seq_graphs,
    processing=lambda source: {**text_processing(source), "image": preprocessor_config(source)},
    generation=generation("encoder-decoder"),
    samples=lambda source: [Sample([sample_images()[0]], dict(GREEDY)), Sample([sample_images()[1]], dict(BEAM))],
    files=lambda source, staging: write_tokenizer(source, staging) + _write_preprocessor(source, staging),
    attn_implementation=None,
)
