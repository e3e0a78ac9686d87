"""Export families of the generative text tasks: `decoder` (any AutoModelForCausalLM) and `seq2seq` (any
AutoModelForSeq2SeqLM); KV-cache graphs in export/graphs_generation.py."""
from __future__ import annotations

import json

from edgetool.runtime import names

from . import ANY, Adapter, ReferenceModel, Sample
from ..graphs_generation import decoder_only_graph, seq2seq_graphs
from .text import ref
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


def text_processing(source) -> dict:
    return {"tokenizer": tokenizer_settings(source), "prefix": getattr(source.config, "prefix", None)}


def generation(kind: str):
    """The manifest's "generation": how the runtime loops ("decoder-only" | "encoder-decoder") and the
    model's generation config."""
    return lambda source: {"kind": kind, "config": _generation_config(source)}


def _text_encoder_inputs(source):
    import torch

    tok = source.tokenizer()
    enc = tok(["a short text", "another, somewhat longer text for tracing"], padding=True, return_tensors="pt")
    inputs = {names.INPUT_IDS: enc["input_ids"].to(torch.int64),
              names.ATTENTION_MASK: enc["attention_mask"].to(torch.int64)}
    return inputs, {n: {0: names.BATCH, 1: names.SEQUENCE} for n in inputs}


def _seq2seq_graphs(source, opts):
    inputs, axes = _text_encoder_inputs(source)
    start = source.model.generation_config.decoder_start_token_id
    if start is None:
        start = source.config.decoder_start_token_id
    return seq2seq_graphs(source.model, inputs, axes, int(start))


GREEDY = {"max_new_tokens": 8, "do_sample": False, "num_beams": 1}
BEAM = {"max_new_tokens": 8, "do_sample": False, "num_beams": 3}

DECODER = Adapter(
    task="text-generation", family="decoder", model_types=ANY,
    auto_class="AutoModelForCausalLM",
    references=(ref("gpt2-tiny", "generation", "gpt2_tiny"),),
    graphs=lambda source, opts: [decoder_only_graph(source.model)],
    processing=text_processing,
    generation=generation("decoder-only"),
    samples=lambda source: [Sample([PROMPTS[0]], dict(GREEDY)), Sample([PROMPTS[1]], dict(BEAM))],
    files=write_tokenizer,
    attn_implementation=None,
)


def _seq2seq(task: str, reference: ReferenceModel) -> Adapter:
    return Adapter(
        task=task, family="seq2seq", model_types=ANY,
        auto_class="AutoModelForSeq2SeqLM",
        references=(reference,),
        graphs=_seq2seq_graphs,
        processing=text_processing,
        generation=generation("encoder-decoder"),
        samples=lambda source: [Sample(["The museum in Paris was absolutely wonderful."], dict(GREEDY)),
                                Sample(["Berlin is the capital of Germany."], dict(BEAM))],
        files=write_tokenizer,
        attn_implementation=None,
    )


SUMMARIZATION = _seq2seq("summarization", ref("bart-tiny", "generation", "bart_tiny"))
TRANSLATION = _seq2seq("translation", ref("t5-tiny", "generation", "t5_tiny"))
TEXT2TEXT_GENERATION = _seq2seq("text2text-generation", ref("bart-tiny-text2text", "generation", "bart_tiny_text2text"))
