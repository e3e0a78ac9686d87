"""Export recipe of text-classification (the other text-encoder tasks live in text_tasks.py)."""
from __future__ import annotations

from . import Recipe, Sample, recipe
from ..graphs import text_encoder_graph
from .text_common import labels, tokenizer_settings, write_tokenizer


def _classification_manifest(source) -> dict:
    return {"processing": {"tokenizer": tokenizer_settings(source),
                           "problem_type": getattr(source.config, "problem_type", None)},
            "labels": labels(source.config)}


recipe(Recipe(
    task="text-classification",
    auto_class="AutoModelForSequenceClassification",
    references=("bert-tiny-classifier",),
    graphs=lambda source, opts: [text_encoder_graph(source, {"logits": lambda o: o.logits})],
    manifest=_classification_manifest,
    samples=lambda source: [
        Sample(["I love this"]),
        Sample(["This is the worst experience of my life"], {"top_k": None}),
        Sample([{"text": "The movie was surprisingly good.", "text_pair": "It was long."}]),
        Sample([["What a great day", "The soup was quite bad and rather expensive."]], {"top_k": 2}),
    ],
    files=write_tokenizer,
))
