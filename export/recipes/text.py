"""Export recipes of the text-encoder tasks."""
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


def sentence_settings(path) -> dict:
    """Pooling / normalisation / max length a sentence-transformers checkpoint declares (if any)."""
    import json

    out = {}
    pooling = path / "1_Pooling" / "config.json"
    if pooling.is_file():
        cfg = json.loads(pooling.read_text())
        modes = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean", "pooling_mode_max_tokens": "max",
                 "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len"}
        out["pooling"] = next((m for k, m in modes.items() if cfg.get(k)), "mean")
    modules = path / "modules.json"
    if modules.is_file():
        out["normalize"] = any(m.get("type", "").endswith("Normalize") for m in json.loads(modules.read_text()))
    st = path / "sentence_bert_config.json"
    if st.is_file():
        out["max_seq_length"] = json.loads(st.read_text()).get("max_seq_length")
    return out


recipe(Recipe(
    task="feature-extraction",
    auto_class="AutoModel",
    references=("bert-tiny-encoder",),
    graphs=lambda source, opts: [text_encoder_graph(source, {"last_hidden_state": lambda o: o.last_hidden_state},
                                                    sequence_outputs=("last_hidden_state",))],
    manifest=lambda source: {"processing": {"tokenizer": tokenizer_settings(source),
                                            "sentence": sentence_settings(source.path)}},
    samples=lambda source: [Sample(["I love this"]), Sample([["What a great day", "Who wrote the book?"]]),
                            Sample([["The soup was quite bad.", "a"]], {"pooling": "mean", "normalize": True})],
    files=write_tokenizer,
))


def _mask_samples(source):
    mask = source.tokenizer().mask_token
    return [Sample([f"The capital of France is {mask}."]), Sample([f"I {mask} this, it was {mask}."], {"top_k": 3}),
            Sample([[f"What a {mask} day", f"Who {mask} the book?"]], {"top_k": 2})]


recipe(Recipe(
    task="fill-mask",
    auto_class="AutoModelForMaskedLM",
    references=("bert-tiny-mlm", "roberta-tiny-mlm"),
    graphs=lambda source, opts: [text_encoder_graph(source, {"logits": lambda o: o.logits}, sequence_outputs=("logits",))],
    manifest=lambda source: {"processing": {"tokenizer": tokenizer_settings(source)}},
    samples=_mask_samples,
    files=write_tokenizer,
))


recipe(Recipe(
    task="zero-shot-classification",
    auto_class="AutoModelForSequenceClassification",
    references=("bert-tiny-nli",),
    graphs=lambda source, opts: [text_encoder_graph(source, {"logits": lambda o: o.logits})],
    manifest=_classification_manifest,
    samples=lambda source: [
        Sample(["The election was strange."], {"candidate_labels": ["politics", "sports", "food"]}),
        Sample([["The soup was delicious", "Our team won"]],
               {"candidate_labels": "food,sports", "multi_label": True, "hypothesis_template": "It is about {}."}),
    ],
    files=write_tokenizer,
))


def _choice_graph(source, opts):
    import torch

    from ..graphs import GraphExport, NamedIO

    tok = source.tokenizer()
    enc = tok(["The weather was"] * 3, ["calm", "very crowded and noisy", "bad"], padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "token_type_ids", "attention_mask") if n in enc]
    inputs = {n: enc[n][None].to(torch.int64) for n in names}
    axes = {n: {0: "batch", 1: "choices", 2: "sequence"} for n in names}
    axes["logits"] = {0: "batch", 1: "choices"}
    return [GraphExport("model", NamedIO(source.model, names, lambda o: (o.logits,)), inputs, ["logits"], axes)]


recipe(Recipe(
    task="multiple-choice",
    auto_class="AutoModelForMultipleChoice",
    references=("bert-tiny-choice",),
    graphs=_choice_graph,
    manifest=lambda source: {"processing": {"tokenizer": tokenizer_settings(source)}},
    samples=lambda source: [Sample(["The weather was"], {"choices": ["calm", "very crowded and noisy", "bad"]}),
                            Sample(["Who wrote the book?"], {"choices": ["John Smith", "the children"]})],
    files=write_tokenizer,
))


recipe(Recipe(
    task="token-classification",
    auto_class="AutoModelForTokenClassification",
    references=("bert-tiny-ner", "roberta-tiny-ner"),
    graphs=lambda source, opts: [text_encoder_graph(source, {"logits": lambda o: o.logits}, sequence_outputs=("logits",))],
    manifest=_classification_manifest,
    samples=lambda source: [Sample(["Barack Obama was born in Hawaii."]),
                            Sample(["Apple announced a new product in California."], {"aggregation_strategy": "simple"}),
                            Sample([["John Smith visited the museum in Paris.", "Angela Merkel met Google"]],
                                   {"aggregation_strategy": "first"})],
    files=write_tokenizer,
))


recipe(Recipe(
    task="question-answering",
    auto_class="AutoModelForQuestionAnswering",
    references=("bert-tiny-qa",),
    graphs=lambda source, opts: [text_encoder_graph(source, {"start_logits": lambda o: o.start_logits,
                                                             "end_logits": lambda o: o.end_logits},
                                                    sequence_outputs=("start_logits", "end_logits"))],
    manifest=lambda source: {"processing": {"tokenizer": tokenizer_settings(source)}},
    samples=lambda source: [
        Sample([], {"question": "Where was Barack Obama born?", "context": "Barack Obama was born in Hawaii."}),
        Sample([], {"question": "What is the capital of Germany?",
                    "context": "Berlin is the capital of Germany. The museum in Paris was wonderful.", "top_k": 3}),
    ],
    files=write_tokenizer,
))
