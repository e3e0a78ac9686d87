"""Export recipes of the generative tasks: KV-cache graphs (export/graphs_generation.py)."""
from __future__ import annotations

import json

from . import Recipe, Sample, recipe
from ..graphs_generation import decoder_only_graph, seq2seq_graphs
from .text_common import tokenizer_settings, write_tokenizer

PROMPTS = ["The weather was", "Machine learning models run on", "I love"]


def _generation_config(source) -> dict:
    """The model's generation_config.json as saved (only values that differ from the defaults)."""
    path = source.path / "generation_config.json"
    if path.is_file():
        cfg = json.loads(path.read_text(encoding="utf-8"))
    else:
        cfg = source.model.generation_config.to_diff_dict()
    return {k: v for k, v in cfg.items() if not k.startswith("_") and k != "transformers_version"}


def _manifest(kind: str):
    def build(source) -> dict:
        return {"processing": {"tokenizer": tokenizer_settings(source),
                               "prefix": getattr(source.config, "prefix", None)},
                "generation": {"kind": kind, "config": _generation_config(source)}}
    return build


def _text_encoder_inputs(source):
    import torch

    tok = source.tokenizer()
    enc = tok(["a short text", "another, somewhat longer text for tracing"], padding=True, return_tensors="pt")
    inputs = {"input_ids": enc["input_ids"].to(torch.int64), "attention_mask": enc["attention_mask"].to(torch.int64)}
    return inputs, {n: {0: "batch", 1: "sequence"} for n in inputs}


def _seq2seq_graphs(source, opts):
    inputs, axes = _text_encoder_inputs(source)
    start = source.model.generation_config.decoder_start_token_id
    if start is None:
        start = source.config.decoder_start_token_id
    return seq2seq_graphs(source.model, inputs, axes, int(start))


GREEDY = {"max_new_tokens": 8, "do_sample": False, "num_beams": 1}
BEAM = {"max_new_tokens": 8, "do_sample": False, "num_beams": 3}

recipe(Recipe(
    task="text-generation",
    auto_class="AutoModelForCausalLM",
    references=("gpt2-tiny",),
    graphs=lambda source, opts: [decoder_only_graph(source.model)],
    manifest=_manifest("decoder-only"),
    samples=lambda source: [Sample([PROMPTS[0]], dict(GREEDY)), Sample([PROMPTS[1]], dict(BEAM))],
    files=write_tokenizer,
    attn_implementation=None,
))

for _task, _ref in (("summarization", "bart-tiny"), ("translation", "t5-tiny"), ("text2text-generation", "bart-tiny-text2text")):
    recipe(Recipe(
        task=_task,
        auto_class="AutoModelForSeq2SeqLM",
        references=(_ref,),
        graphs=_seq2seq_graphs,
        manifest=_manifest("encoder-decoder"),
        samples=lambda source: [Sample(["The museum in Paris was absolutely wonderful."], dict(GREEDY)),
                                Sample(["Berlin is the capital of Germany."], dict(BEAM))],
        files=write_tokenizer,
        attn_implementation=None,
    ))
