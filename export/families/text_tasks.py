"""Export families (all `encoder`: any model type the task's Auto class loads) of the text-encoder tasks: token-classification, question-answering, fill-mask,
feature-extraction, zero-shot-classification, multiple-choice."""
from __future__ import annotations

import json
from pathlib import Path

from edgetool.runtime.errors import UnsupportedError, UsageError

from edgetool.runtime import names

from . import ANY, Adapter, Sample
from ..graphs import GraphExport, NamedIO, text_encoder_graph
from .text import classification_processing, config_labels, ref
from .text_common import tokenizer_settings, write_tokenizer

_NER_TEXTS = ["Barack Obama was born in Hawaii.", "Apple announced a new product in California.",
              "John Smith visited the museum in Paris.", "Angela Merkel met Google"]


def _sequence_graph(*outputs: str):
    """An encoder whose outputs all have a token axis (token logits, hidden states, QA start/end)."""
    return lambda source, opts: [text_encoder_graph(source, {o: (lambda out, o=o: getattr(out, o)) for o in outputs},
                                                    sequence_outputs=outputs)]


TOKEN_CLASSIFICATION = Adapter(
    task="token-classification", family="encoder", model_types=ANY,
    auto_class="AutoModelForTokenClassification",
    references=(ref("bert-tiny-ner", "text_tasks", "bert_tiny_ner"), ref("roberta-tiny-ner", "text_tasks", "roberta_tiny_ner")),
    graphs=_sequence_graph("logits"),
    processing=classification_processing,
    labels=config_labels,
    samples=lambda source: [
        Sample([_NER_TEXTS[0]]),
        Sample([_NER_TEXTS[1]], {"aggregation_strategy": "simple"}),
        Sample([_NER_TEXTS[2:]], {"aggregation_strategy": "first"}),
        Sample([_NER_TEXTS[2]], {"aggregation_strategy": "average", "ignore_labels": []}),
        Sample([_NER_TEXTS[3]], {"aggregation_strategy": "max"}),
        Sample([" ".join(_NER_TEXTS * 8)], {"aggregation_strategy": "simple", "stride": 16}),  # windows
    ],
    files=write_tokenizer,
)


_QA_CONTEXT = "Berlin is the capital of Germany. The museum in Paris was wonderful. John Smith wrote the book."

QUESTION_ANSWERING = Adapter(
    task="question-answering", family="encoder", model_types=ANY,
    auto_class="AutoModelForQuestionAnswering",
    references=(ref("bert-tiny-qa", "text_tasks", "bert_tiny_qa"),),
    graphs=_sequence_graph("start_logits", "end_logits"),
    processing=lambda source: {"tokenizer": tokenizer_settings(source)},
    samples=lambda source: [
        Sample([], {"question": "Where was Barack Obama born?", "context": "Barack Obama was born in Hawaii."}),
        Sample([], {"question": "What is the capital of Germany?", "context": _QA_CONTEXT, "top_k": 3}),
        Sample([], {"question": "Who?", "context": _QA_CONTEXT, "handle_impossible_answer": True, "top_k": 2}),
        Sample([], {"question": "Who wrote the book?", "context": " ".join([_QA_CONTEXT] * 8), "doc_stride": 32,
                    "top_k": 2}),
    ],
    files=write_tokenizer,
)


def _mask_samples(source):
    mask = source.tokenizer().mask_token
    return [Sample([f"The capital of France is {mask}."]), Sample([f"I {mask} this, it was {mask}."], {"top_k": 3}),
            Sample([[f"What a {mask} day", f"Who {mask} the book?"]], {"top_k": 2})]


FILL_MASK = Adapter(
    task="fill-mask", family="encoder", model_types=ANY,
    auto_class="AutoModelForMaskedLM",
    references=(ref("bert-tiny-mlm", "text_tasks", "bert_tiny_mlm"), ref("roberta-tiny-mlm", "text_tasks", "roberta_tiny_mlm")),
    graphs=_sequence_graph("logits"),
    processing=lambda source: {"tokenizer": tokenizer_settings(source)},
    samples=_mask_samples,
    files=write_tokenizer,
)


# sentence-transformers modules an exported bundle reproduces; anything else (Dense, LayerNorm, ...)
# would change the embedding, so the export refuses instead of producing silently different vectors.
_ST_SUPPORTED = {"Transformer", "Pooling", "Normalize"}
# sentence-transformers concatenates the enabled modes in this order.
_LEGACY_POOLING = {"pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max",
                   "pooling_mode_mean_tokens": "mean", "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
                   "pooling_mode_weightedmean_tokens": "weightedmean", "pooling_mode_lasttoken": "lasttoken"}
POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")


def pooling_modes(cfg: dict) -> list[str]:
    """The pooling a 1_Pooling/config.json declares: new style {"pooling_mode": "cls" | [...]} or the
    legacy pooling_mode_*_tokens booleans (sentence-transformers defaults to mean when none is set)."""
    if "pooling_mode" in cfg:
        modes = cfg["pooling_mode"]
        modes = [modes] if isinstance(modes, str) else list(modes)
    else:
        modes = [m for k, m in _LEGACY_POOLING.items() if cfg.get(k)] or ["mean"]
    bad = [m for m in modes if m not in POOLING_MODES]
    if bad:
        raise UnsupportedError(f"Pooling mode(s) {bad} of this sentence-transformers checkpoint are not supported; "
                               f"edgetool pools with {', '.join(POOLING_MODES)}.")
    return modes


def sentence_settings(path: Path) -> dict:
    """What SentenceTransformer(path).encode does after the transformer, for the runtime to repeat in NumPy:
    pooling (1_Pooling/config.json), Normalize, max_seq_length and do_lower_case (sentence_bert_config.json).
    Empty for a plain transformers checkpoint (sentence embeddings then default to mean pooling)."""
    modules_file = path / "modules.json"
    modules = json.loads(modules_file.read_text()) if modules_file.is_file() else []
    pooling_dir = path / "1_Pooling"
    for m in modules:
        kind = str(m.get("type", "")).rsplit(".", 1)[-1]
        if kind not in _ST_SUPPORTED:
            raise UnsupportedError(
                f"{path} is a sentence-transformers model with a '{m.get('type')}' module ({m.get('path')}); edgetool "
                f"reproduces only {', '.join(sorted(_ST_SUPPORTED))}, so its embeddings would differ. Export the "
                "transformer alone (a checkpoint without modules.json) and apply that module yourself.")
        if kind == "Transformer" and m.get("path", "") not in ("", "."):
            raise UsageError(f"{path}: the transformer of this sentence-transformers model is in the sub-folder "
                             f"'{m['path']}'; edgetool needs config.json and the weights at the top of --model.")
        if kind == "Pooling":
            pooling_dir = path / m.get("path", "1_Pooling")
    out: dict = {}
    if (pooling_dir / "config.json").is_file():
        modes = pooling_modes(json.loads((pooling_dir / "config.json").read_text()))
        out["pooling"] = modes[0] if len(modes) == 1 else modes
    elif modules and not any(str(m.get("type", "")).endswith("Pooling") for m in modules):
        raise UnsupportedError(f"{path}: modules.json has no Pooling module; edgetool exports sentence embeddings "
                               "as Transformer + Pooling (+ Normalize).")
    if modules:
        out["normalize"] = any(str(m.get("type", "")).endswith("Normalize") for m in modules)
    st = path / "sentence_bert_config.json"
    if st.is_file():
        cfg = json.loads(st.read_text())
        if cfg.get("max_seq_length"):
            out["max_seq_length"] = int(cfg["max_seq_length"])
        if cfg.get("do_lower_case"):
            out["lowercase"] = True  # sentence-transformers puts a Lowercase normalizer before the tokenizer's own
    return out


# The graph outputs last_hidden_state and pooling runs in NumPy (runtime/pipelines/feature_extraction.py):
# one artifact then serves token embeddings (what the transformers pipeline returns) and every pooling
# mode and normalisation, chosen per call; pooling is a few vector ops, negligible next to the encoder.
FEATURE_EXTRACTION = Adapter(
    task="feature-extraction", family="encoder", model_types=ANY,
    auto_class="AutoModel",
    references=(ref("bert-tiny-encoder", "text_tasks", "bert_tiny_encoder"),),
    graphs=_sequence_graph("last_hidden_state"),
    processing=lambda source: {"tokenizer": tokenizer_settings(source), "sentence": sentence_settings(Path(source.path))},
    samples=lambda source: [Sample(["I love this"]), Sample([["What a great day", "Who wrote the book?"]]),
                            Sample([["The soup was quite bad.", "a"]], {"pooling": "mean", "normalize": True}),
                            Sample([["The soup was quite bad.", "Who wrote the book?"]], {"pooling": "cls"})],
    files=write_tokenizer,
)


def nli_ids(config) -> dict:
    """Entailment / contradiction ids as the transformers zero-shot pipeline takes them from label2id."""
    label2id = dict(getattr(config, "label2id", None) or {})
    entail = next((int(i) for lab, i in label2id.items() if str(lab).lower().startswith("entail")), None)
    if entail is None:
        raise UsageError(f"zero-shot-classification needs an NLI model whose label2id names an entailment label "
                         f"(e.g. ENTAILMENT / NEUTRAL / CONTRADICTION); this model has {label2id}. Use a model "
                         "fine-tuned on NLI, or export it as text-classification.")
    return {"entailment_id": entail, "contradiction_id": -1 if entail == 0 else 0}


def _nli_processing(source) -> dict:
    return {**classification_processing(source), "nli": nli_ids(source.config)}


ZERO_SHOT_CLASSIFICATION = Adapter(
    task="zero-shot-classification", family="encoder", model_types=ANY,
    auto_class="AutoModelForSequenceClassification",
    references=(ref("bert-tiny-nli", "text_tasks", "bert_tiny_nli"),),
    graphs=lambda source, opts: [text_encoder_graph(source, {"logits": lambda o: o.logits})],
    processing=_nli_processing,
    labels=config_labels,
    samples=lambda source: [
        Sample(["The election was strange."], {"candidate_labels": ["politics", "sports", "food"]}),
        Sample([["The soup was delicious", "Our team won"]],
               {"candidate_labels": "food,sports", "multi_label": True, "hypothesis_template": "It is about {}."}),
        Sample(["I love this"], {"candidate_labels": ["happy"]}),
    ],
    files=write_tokenizer,
)


def _choice_graph(source, opts):
    """AutoModelForMultipleChoice takes [batch, num_choices, sequence] inputs and gives [batch, num_choices]."""
    import torch

    tok = source.tokenizer()
    enc = tok(["The weather was"] * 3, ["calm", "very crowded and noisy", "bad"], padding=True, return_tensors="pt")
    present = [n for n in (names.INPUT_IDS, names.TOKEN_TYPE_IDS, names.ATTENTION_MASK) if n in enc]
    inputs = {n: enc[n][None].to(torch.int64) for n in present}
    axes = {n: {0: names.BATCH, 1: "choices", 2: names.SEQUENCE} for n in present}
    axes[names.LOGITS] = {0: names.BATCH, 1: "choices"}
    return [GraphExport("model", NamedIO(source.model, present, lambda o: (o.logits,)), inputs, [names.LOGITS], axes)]


MULTIPLE_CHOICE = Adapter(
    task="multiple-choice", family="encoder", model_types=ANY,
    auto_class="AutoModelForMultipleChoice",
    references=(ref("bert-tiny-choice", "text_tasks", "bert_tiny_choice"),),
    graphs=_choice_graph,
    processing=lambda source: {"tokenizer": tokenizer_settings(source)},
    samples=lambda source: [Sample(["The weather was"], {"choices": ["calm", "very crowded and noisy", "bad"]}),
                            Sample(["Who wrote the book?"], {"choices": ["John Smith", "the children"]})],
    files=write_tokenizer,
)
