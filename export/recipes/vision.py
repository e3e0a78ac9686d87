"""Export recipes of the vision tasks (and image-to-text, which needs the image processor too)."""
from __future__ import annotations

import json
import shutil

import numpy as np

from . import Recipe, Sample, recipe
from ..graphs import GraphExport, NamedIO
from ..graphs_generation import seq2seq_graphs
from .generation import GREEDY, BEAM, _manifest as _generation_manifest
from .text_common import labels, write_tokenizer


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
    x = {"pixel_values": torch_randn(2, 3, h, w)}  # ConvNeXT: a shortest_edge square after its crop
    return [GraphExport("model", NamedIO(source.model, ["pixel_values"], lambda o: (o.logits,)), x, ["logits"],
                        {"pixel_values": {0: "batch"}, "logits": {0: "batch"}})]


def torch_randn(*shape):
    import torch

    return torch.randn(*shape)


def _write_preprocessor(source, staging) -> list[str]:
    shutil.copyfile(source.path / "preprocessor_config.json", staging / "preprocessor_config.json")
    return ["preprocessor_config.json"]


recipe(Recipe(
    task="image-classification",
    auto_class="AutoModelForImageClassification",
    references=("vit-tiny-classifier", "convnext-tiny-classifier"),
    graphs=_image_graph,
    manifest=lambda source: {"processing": {"image": preprocessor_config(source),
                                            "problem_type": getattr(source.config, "problem_type", None)},
                             "labels": labels(source.config)},
    samples=lambda source: [Sample([img]) for img in sample_images()[:2]] + [Sample([sample_images()[2]], {"top_k": 2})],
    files=_write_preprocessor,
))


def _vision_seq2seq_graphs(source, opts):
    size = preprocessor_config(source).get("size", {})
    x = {"pixel_values": torch_randn(2, 3, size.get("height", 32), size.get("width", 32))}
    start = source.model.generation_config.decoder_start_token_id
    return seq2seq_graphs(source.model, x, {"pixel_values": {0: "batch"}}, int(start), uses_mask=False)


def _vision_seq2seq_manifest(source) -> dict:
    m = _generation_manifest("encoder-decoder")(source)
    m["processing"]["image"] = preprocessor_config(source)
    return m


recipe(Recipe(
    task="image-to-text",
    auto_class="AutoModelForVision2Seq",
    references=("vit-gpt2-tiny",),
    graphs=_vision_seq2seq_graphs,
    manifest=_vision_seq2seq_manifest,
    samples=lambda source: [Sample([sample_images()[0]], dict(GREEDY)), Sample([sample_images()[1]], dict(BEAM))],
    files=lambda source, staging: write_tokenizer(source, staging) + _write_preprocessor(source, staging),
    attn_implementation=None,
))
