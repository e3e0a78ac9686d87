"""Export families of the vision tasks: image-classification (`vit`, `convnext`) and image-to-text
(`vision-encoder-decoder`, which needs the image processor too)."""
from __future__ import annotations

import json
import shutil

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


def sample_images() -> list[np.ndarray]:
    """Deterministic test pictures of odd sizes (gradients and blocks, not noise)."""
    rng = np.random.default_rng(0)
    h, w = 37, 53
    grad = np.stack([*np.meshgrid(np.linspace(0, 255, w), np.linspace(0, 255, h)), np.full((h, w), 128.0)], -1)
    blocks = np.kron(rng.integers(0, 255, (6, 4, 3)), np.ones((8, 8, 1)))
    return [grad.astype(np.uint8), blocks.astype(np.uint8), rng.integers(0, 255, (20, 20, 3)).astype(np.uint8)]


def _image_graph(source, opts):
    size = preprocessor_config(source).get("size", {})
    h, w = size.get("height", size.get("shortest_edge", 32)), size.get("width", size.get("shortest_edge", 32))
    x = {names.PIXEL_VALUES: torch_randn(2, 3, h, w)}  # ConvNeXT: a shortest_edge square after its crop
    return [GraphExport("model", NamedIO(source.model, [names.PIXEL_VALUES], lambda o: (o.logits,)), x, [names.LOGITS],
                        {names.PIXEL_VALUES: {0: names.BATCH}, names.LOGITS: {0: names.BATCH}})]


def torch_randn(*shape):
    import torch

    return torch.randn(*shape)


def _write_preprocessor(source, staging) -> list[str]:
    shutil.copyfile(source.path / "preprocessor_config.json", staging / "preprocessor_config.json")
    return ["preprocessor_config.json"]


def _classifier(family: str, model_type: str, reference: ReferenceModel) -> Adapter:
    return Adapter(
        task="image-classification", family=family, model_types=(model_type,),
        auto_class="AutoModelForImageClassification",
        references=(reference,),
        graphs=_image_graph,
        processing=lambda source: {"image": preprocessor_config(source),
                                   "problem_type": getattr(source.config, "problem_type", None)},
        labels=config_labels,
        samples=lambda source: [Sample([img]) for img in sample_images()[:2]] + [Sample([sample_images()[2]], {"top_k": 2})],
        files=_write_preprocessor,
    )


VIT = _classifier("vit", "vit", ref("vit-tiny-classifier", "vision", "vit_tiny_classifier"))
CONVNEXT = _classifier("convnext", "convnext", ref("convnext-tiny-classifier", "vision", "convnext_tiny_classifier"))


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
