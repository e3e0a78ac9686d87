"""Export family of text-classification: any encoder AutoModelForSequenceClassification loads (the other
text-encoder tasks live in text_tasks.py)."""
from __future__ import annotations

from . import ANY, Adapter, ReferenceModel, Sample
from ..graphs import text_encoder_graph
from .text_common import labels, tokenizer_settings, write_tokenizer


def ref(name: str, module: str, function: str) -> ReferenceModel:
    return ReferenceModel(name, f"edgetool.export.reference.{module}:{function}")


def classification_processing(source) -> dict:
    return {"tokenizer": tokenizer_settings(source), "problem_type": getattr(source.config, "problem_type", None)}


def config_labels(source) -> dict:
    return labels(source.config)


TEXT_CLASSIFICATION = Adapter(
    task="text-classification", family="encoder", model_types=ANY,
    auto_class="AutoModelForSequenceClassification",
    references=(ref("bert-tiny-classifier", "text", "bert_tiny_classifier"),),
    graphs=lambda source, opts: [text_encoder_graph(source, {"logits": lambda o: o.logits})],
    processing=classification_processing,
    labels=config_labels,
    samples=lambda source: [
        Sample(["I love this"]),
        Sample(["This is the worst experience of my life"], {"top_k": None}),
        Sample([{"text": "The movie was surprisingly good.", "text_pair": "It was long."}]),
        Sample([["What a great day", "The soup was quite bad and rather expensive."]], {"top_k": 2}),
    ],
    files=write_tokenizer,
)
