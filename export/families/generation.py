"""Export families of the generative text tasks: `decoder` (the AutoModelForCausalLM model types listed in
DECODER_TYPES) and `seq2seq` (any AutoModelForSeq2SeqLM); KV-cache graphs in export/graphs_generation.py."""
from __future__ import annotations

import json
from dataclasses import dataclass

from edgetool.runtime import names

from . import ANY, Adapter, ReferenceModel, Sample
from ..attention import grouped_attention
from ..graphs_generation import decoder_only_graph, fused_decoder_graph, seq2seq_graphs
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


def decoder_processing(source) -> dict:
    """text_processing plus the tokenizer's chat_template (chat messages are rendered on the device)."""
    template = getattr(source.tokenizer(), "chat_template", None)
    if isinstance(template, dict):  # named templates: the pipeline uses "default"
        template = template.get("default")
    return {**text_processing(source), **({"chat_template": template} if isinstance(template, str) else {})}


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


@dataclass(frozen=True)
class DecoderType:
    """A causal-LM model type the decoder family exports (checked end to end in
    tests/e2e/test_llm_families.py), with the quirks it needs."""

    model_type: str
    # None: transformers' default attention (sdpa). Gemma 2 soft-caps attention logits only in eager
    # attention; sdpa silently drops the cap.
    attn_implementation: str | None = None


DECODER_TYPES = (
    DecoderType("gpt2"), DecoderType("gpt_neox"), DecoderType("opt"), DecoderType("bloom"),
    DecoderType("llama"),  # incl. Llama 3 rope_scaling (computed into the graph's rotary constants)
    DecoderType("qwen2"), DecoderType("qwen3"),  # Qwen3: q/k RMSNorm, a plain part of the graph
    DecoderType("mistral"),  # sliding window: manifest generation.sliding_window keeps the cache contiguous
    DecoderType("phi3"), DecoderType("gemma"),
    DecoderType("gemma2", attn_implementation="eager"),  # alternating local/global layers, logit soft-capping
    DecoderType("falcon"), DecoderType("granite"), DecoderType("smollm3"),
)

# Causal LMs that the decoder graph (a KV cache of keys/values per layer) cannot express, and why.
UNEXPORTABLE = {
    "mamba": "a state-space model: its cache is a convolution/SSM state, not attention keys/values",
    "falcon_mamba": "a state-space model: its cache is a convolution/SSM state, not attention keys/values",
    "mamba2": "a state-space model: its cache is a convolution/SSM state, not attention keys/values",
    "rwkv": "a recurrent model: its state is not an attention key/value cache",
    "recurrent_gemma": "a recurrent model (Griffin): its state is not an attention key/value cache",
    "jamba": "hybrid attention/Mamba layers: part of its cache is an SSM state",
}


def _context(source) -> int | None:
    cfg = source.config.get_text_config(decoder=True)
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(cfg, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None  # ALiBi (BLOOM): no position table; the tokenizer's model_max_length still applies


def _sliding_window(source) -> int | None:
    value = getattr(source.config.get_text_config(decoder=True), "sliding_window", None)
    return value if isinstance(value, int) and value > 0 else None


def decoder_generation(source) -> dict:
    return {**generation("decoder-only")(source), "context": _context(source), "sliding_window": _sliding_window(source)}


GREEDY = {"max_new_tokens": 8, "do_sample": False, "num_beams": 1}
BEAM = {"max_new_tokens": 8, "do_sample": False, "num_beams": 3}

DECODER = Adapter(
    task="text-generation", family="decoder", model_types=tuple(t.model_type for t in DECODER_TYPES),
    auto_class="AutoModelForCausalLM",
    references=(ref("gpt2-tiny", "generation", "gpt2_tiny"),),
    graphs=lambda source, opts: [g for g in (decoder_only_graph(source.model), fused_decoder_graph(source.model)) if g],
    processing=decoder_processing,
    generation=decoder_generation,
    samples=lambda source: [Sample([PROMPTS[0]], dict(GREEDY)), Sample([PROMPTS[1]], dict(BEAM))],
    files=write_tokenizer,
    attn_implementation=None,
    attn_by_model_type={t.model_type: t.attn_implementation for t in DECODER_TYPES if t.attn_implementation},
    unexportable=UNEXPORTABLE,
    patches=(grouped_attention,),
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
