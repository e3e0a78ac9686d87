"""Graphs for generation with a KV cache.

Decoder-only (GPT-2 style): one graph `decoder` taking input_ids, attention_mask, position_ids and
past_key_values.{i}.key/value (zero-length on the first step) and returning logits and
present.{i}.key/value: the whole cache (axis `total_sequence`), or with grouped attention
(export/attention.py) only the new positions (axis `sequence`). No separate "with past" copy of the weights.

Encoder-decoder (BART, T5, Marian, Whisper, vision encoder-decoder): three graphs, each weight in
exactly one of them —
  encoder   inputs -> last_hidden_state
  cross_kv  last_hidden_state -> present.{i}.encoder.key/value   (run ONCE per input: the
            cross-attention cache is constant, so it is neither recomputed nor re-emitted per step)
  decoder   decoder_input_ids, encoder_attention_mask, past_key_values.{i}.decoder.key/value,
            past_key_values.{i}.encoder.key/value -> logits, present.{i}.decoder.key/value
The decoder is traced with a pre-filled cross-attention cache, so its cross-attention key/value
projections are never on its path and the exporter leaves them out; cross_kv is traced with only the
cross cache as outputs, so dead-code elimination keeps only those projections.

These graphs are traced with the dynamo exporter: transformers builds causal masks with vmap,
which the TorchScript exporter cannot trace.
"""
from __future__ import annotations

import inspect

import torch

from edgetool.runtime import names as n
from edgetool.runtime.names import BATCH, ENCODER_SEQUENCE, PAST_SEQUENCE, SEQUENCE, TOTAL_SEQUENCE

from .attention import append_cache, appends_cache, plain_cache
from .compat import decoder_dims
from .graphs import GraphExport


def _dims(config) -> tuple[int, int, int]:
    """(layers, heads, head_dim) of the decoder's self-attention cache."""
    return decoder_dims(config)


def _cache_tensors(cache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(layer.keys, layer.values) for layer in cache.layers]


class DecoderOnlyStep(torch.nn.Module):
    """appends: whether present.* are only the new positions (None: where grouped attention applies);
    last_logits: logits of the last position only (the fused graph's)."""

    def __init__(self, model, layers: int, use_position_ids: bool, appends: bool | None = None,
                 last_logits: bool = False):
        super().__init__()
        self.model, self.layers, self.use_position_ids, self.appends = model, layers, use_position_ids, appends
        self.last_logits = last_logits

    def forward(self, *args):
        input_ids, attention_mask = args[0], args[1]
        rest = args[2:]
        kwargs = {}
        if self.use_position_ids:
            kwargs["position_ids"], rest = rest[0], rest[1:]
        pairs = [(rest[2 * i], rest[2 * i + 1]) for i in range(self.layers)]
        appends = appends_cache(self.model.config) if self.appends is None else self.appends
        cache = append_cache(pairs) if appends else plain_cache(pairs)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, past_key_values=cache, use_cache=True,
                         return_dict=True, **kwargs)
        # grouped attention: only the new positions (the runtime keeps the cache); else the whole cache
        flat = [t for i in range(self.layers) for t in cache.new[i]] if appends else \
            [t for kv in _cache_tensors(out.past_key_values) for t in kv]
        return (out.logits[:, -1:] if self.last_logits else out.logits, *flat)


def _probe_cache(model) -> tuple[int, int, int]:
    """(layers, kv_heads, head_dim) of a decoder's self-attention cache, read from one real forward step:
    grouped-/multi-query models cache num_key_value_heads (Falcon: 1 when multi_query) heads of head_dim,
    which no single config field names for every family."""
    with torch.no_grad():
        out = model(input_ids=torch.zeros(1, 2, dtype=torch.int64), past_key_values=plain_cache(()),
                    use_cache=True, return_dict=True)
    pairs = _cache_tensors(out.past_key_values)
    k = pairs[0][0]
    return len(pairs), k.shape[1], k.shape[3]


def decoder_only_graph(model, batch: int = 2, past: int = 3, seq: int = 4) -> GraphExport:
    layers, heads, head_dim = _probe_cache(model)
    use_pos = "position_ids" in inspect.signature(model.forward).parameters
    vocab = model.config.vocab_size
    inputs = {n.INPUT_IDS: torch.randint(0, vocab, (batch, seq)),
              n.ATTENTION_MASK: torch.ones(batch, past + seq, dtype=torch.int64)}
    axes = {n.INPUT_IDS: {0: BATCH, 1: SEQUENCE}, n.ATTENTION_MASK: {0: BATCH, 1: TOTAL_SEQUENCE}}
    if use_pos:
        inputs[n.POSITION_IDS] = torch.arange(past, past + seq).expand(batch, seq).contiguous()
        axes[n.POSITION_IDS] = {0: BATCH, 1: SEQUENCE}
    outputs = [n.LOGITS]
    axes[n.LOGITS] = {0: BATCH, 1: SEQUENCE}
    present_len = SEQUENCE if appends_cache(model.config) else TOTAL_SEQUENCE
    for i in range(layers):
        for kv in n.KV_KINDS:
            inputs[n.past(i, kv)] = torch.randn(batch, heads, past, head_dim)
            axes[n.past(i, kv)] = {0: BATCH, 2: PAST_SEQUENCE}
            outputs.append(n.present(i, kv))
            axes[n.present(i, kv)] = {0: BATCH, 2: present_len}
    return GraphExport("decoder", DecoderOnlyStep(model, layers, use_pos), inputs, outputs, axes, dynamo=True)


def fused_decoder_graph(model, batch: int = 2, past: int = 3, seq: int = 4) -> GraphExport | None:
    """The ONNX Runtime form of the decoder (export/fused_decoder.py), or None where it does not apply. Its torch
    reference is the model's own step with a whole (joined) cache, positions counted from the cache (the fused
    graph serves unpadded rows only), and the last position's logits."""
    from . import fused_decoder

    if fused_decoder.unsupported(model) is not None:
        return None
    layers, heads, head_dim = _probe_cache(model)
    inputs = {n.INPUT_IDS: torch.randint(0, model.config.vocab_size, (batch, seq)),
              n.ATTENTION_MASK: torch.ones(batch, past + seq, dtype=torch.int64)}
    outputs = [n.LOGITS]
    for i in range(layers):
        for kv in n.KV_KINDS:
            inputs[n.past(i, kv)] = torch.randn(batch, heads, past, head_dim)
            outputs.append(n.present(i, kv))
    return GraphExport(n.FUSED_DECODER, DecoderOnlyStep(model, layers, False, appends=False, last_logits=True), inputs, outputs,
                       build=lambda path: fused_decoder.build(model, path))


# -- encoder-decoder -------------------------------------------------------------------------------
class EncoderGraph(torch.nn.Module):
    def __init__(self, encoder, input_names):
        super().__init__()
        self.encoder, self.input_names = encoder, input_names

    def forward(self, *args):
        return (self.encoder(**dict(zip(self.input_names, args)), return_dict=True).last_hidden_state,)


class CrossKV(torch.nn.Module):
    """Encoder states -> the decoder's cross-attention cache (everything else is dead code)."""

    def __init__(self, model, start_id: int, mask: bool):
        super().__init__()
        self.model, self.start_id, self.mask = model, start_id, mask

    def forward(self, *args):
        from transformers.cache_utils import DynamicCache, EncoderDecoderCache
        from transformers.modeling_outputs import BaseModelOutput

        hidden = args[0]
        kwargs = {"attention_mask": args[1]} if self.mask else {}
        dec_ids = torch.full((hidden.shape[0], 1), self.start_id, dtype=torch.int64, device=hidden.device)
        cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        out = self.model(encoder_outputs=BaseModelOutput(last_hidden_state=hidden), decoder_input_ids=dec_ids,
                         past_key_values=cache, use_cache=True, return_dict=True, **kwargs)
        return tuple(t for kv in _cache_tensors(out.past_key_values.cross_attention_cache) for t in kv)


class DecoderStep(torch.nn.Module):
    def __init__(self, model, layers: int, hidden_size: int, mask: bool):
        super().__init__()
        self.model, self.layers, self.hidden_size, self.mask = model, layers, hidden_size, mask

    def forward(self, *args):
        from transformers.cache_utils import EncoderDecoderCache
        from transformers.modeling_outputs import BaseModelOutput

        ids = args[0]
        rest = args[1:]
        kwargs = {}
        if self.mask:
            kwargs["attention_mask"], rest = rest[0], rest[1:]
        self_kv = [(rest[4 * i], rest[4 * i + 1]) for i in range(self.layers)]
        cross_kv = [(rest[4 * i + 2], rest[4 * i + 3]) for i in range(self.layers)]
        cache = EncoderDecoderCache(plain_cache(self_kv), plain_cache(cross_kv))
        # Only the shape of the encoder states matters once the cross cache is filled.
        enc_len = cross_kv[0][0].shape[2]
        hidden = torch.zeros(ids.shape[0], enc_len, self.hidden_size, dtype=cross_kv[0][0].dtype)
        out = self.model(encoder_outputs=BaseModelOutput(last_hidden_state=hidden), decoder_input_ids=ids,
                         past_key_values=cache, use_cache=True, return_dict=True, **kwargs)
        flat = [t for kv in _cache_tensors(out.past_key_values.self_attention_cache) for t in kv]
        return (out.logits, *flat)


def encoder_graph(model, inputs: dict[str, torch.Tensor], axes: dict) -> GraphExport:
    enc = model.get_encoder()
    names = list(inputs)
    return GraphExport("encoder", EncoderGraph(enc, names), inputs, [n.LAST_HIDDEN_STATE],
                       {**axes, n.LAST_HIDDEN_STATE: {0: BATCH, 1: ENCODER_SEQUENCE}}, dynamo=True)


def seq2seq_graphs(model, encoder_inputs: dict[str, torch.Tensor], encoder_axes: dict, start_id: int,
                   uses_mask: bool = True, past: int = 3, seq: int = 2) -> list[GraphExport]:
    """encoder + cross_kv + decoder for a model with get_encoder() and an EncoderDecoderCache.

    The decoder is traced with seq > 1 so that its sequence axis stays dynamic: Whisper feeds its
    start tokens (<|startoftranscript|>, language, task, ...) in one first step."""
    layers, heads, head_dim = _dims(model.config)
    enc_graph = encoder_graph(model, encoder_inputs, encoder_axes)
    with torch.no_grad():
        hidden = enc_graph.module(*encoder_inputs.values())[0]
    batch, enc_len, hidden_size = hidden.shape
    mask = torch.ones(batch, enc_len, dtype=torch.int64)

    kv_inputs = {n.ENCODER_HIDDEN_STATES: hidden}
    kv_axes = {n.ENCODER_HIDDEN_STATES: {0: BATCH, 1: ENCODER_SEQUENCE}}
    if uses_mask:
        kv_inputs[n.ENCODER_ATTENTION_MASK] = mask
        kv_axes[n.ENCODER_ATTENTION_MASK] = {0: BATCH, 1: ENCODER_SEQUENCE}
    kv_outputs = [n.present(i, kv, "encoder") for i in range(layers) for kv in n.KV_KINDS]
    kv_axes.update({name: {0: BATCH, 2: ENCODER_SEQUENCE} for name in kv_outputs})
    cross = GraphExport("cross_kv", CrossKV(model, start_id, uses_mask), kv_inputs, kv_outputs, kv_axes, dynamo=True)

    dec_inputs = {n.DECODER_INPUT_IDS: torch.full((batch, seq), start_id, dtype=torch.int64)}
    dec_axes = {n.DECODER_INPUT_IDS: {0: BATCH, 1: SEQUENCE}}
    if uses_mask:
        dec_inputs[n.ENCODER_ATTENTION_MASK] = mask
        dec_axes[n.ENCODER_ATTENTION_MASK] = {0: BATCH, 1: ENCODER_SEQUENCE}
    with torch.no_grad():
        cross_kv = cross.module(*kv_inputs.values())
    outputs = [n.LOGITS]
    dec_axes[n.LOGITS] = {0: BATCH, 1: SEQUENCE}
    for i in range(layers):
        for kv in n.KV_KINDS:
            dec_inputs[n.past(i, kv, "decoder")] = torch.randn(batch, heads, past, head_dim)
            dec_axes[n.past(i, kv, "decoder")] = {0: BATCH, 2: PAST_SEQUENCE}
        for j, kv in enumerate(n.KV_KINDS):
            dec_inputs[n.past(i, kv, "encoder")] = cross_kv[2 * i + j]
            dec_axes[n.past(i, kv, "encoder")] = {0: BATCH, 2: ENCODER_SEQUENCE}
        for kv in n.KV_KINDS:
            outputs.append(n.present(i, kv, "decoder"))
            dec_axes[n.present(i, kv, "decoder")] = {0: BATCH, 2: TOTAL_SEQUENCE}
    decoder = GraphExport("decoder", DecoderStep(model, layers, hidden_size, uses_mask), dec_inputs, outputs,
                          dec_axes, dynamo=True)
    return [enc_graph, cross, decoder]
