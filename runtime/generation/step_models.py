"""StepModels: what the generation loop drives — one forward step with a KV cache, on any engine.

The protocol (search.py calls exactly this):

    model.is_encoder_decoder: bool
        False: the prompt is the decoder's input (GPT-2). True: the inputs go to an encoder and the
        prompt is the decoder's first tokens (decoder_start_token_id, Whisper's task tokens, ...).

    state = model.start(inputs: dict[str, np.ndarray], expand: int) -> state
        Called once per generate(). `inputs["attention_mask"]` int64 [batch, n] is always there:
        decoder-only, the prompt's mask (0 = left padding); encoder-decoder, the encoder's mask, next to
        the encoder inputs (input_ids, pixel_values, input_features). Every input row becomes `expand`
        consecutive rows (row r -> rows r*expand .. r*expand+expand-1: beams, or sampled sequences), as
        transformers' repeat_interleave does. The state is the model's own (cache arrays, masks).

    logits = model.step(state, new_tokens: int64 [rows, n]) -> float32 [rows, vocab] (or [rows, n, vocab])
        The first call gets the whole prompt (n = prompt length), later calls one token per row. The
        model updates `state` in place: it appends the new tokens' keys/values to its cache and, for
        decoder-only models, extends the attention mask with ones and derives the positions from it
        (`position_ids` below), so left-padded rows continue at the right position. The loop uses the
        logits of the last position only. They are valid until the next step: a model may write the next
        step's logits into the same array (copy them to keep them), and the loop may write into them (its
        processors mask entries in place; it copies logits that are not writable).

    model.reorder(state, rows: int64 [rows]) -> None
        Beam search: row i of the cache (and of every per-row array in the state) becomes old row rows[i].
        Rows only move among the `expand` rows of one input (its beams), never across inputs.

`run` below is any callable (graph_name, feeds) -> outputs, e.g. a pipeline's run_graph, so every
backend works; the graphs are those export/graphs_generation.py writes.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol

import numpy as np

from ..names import (ATTENTION_MASK, DECODER_INPUT_IDS, ENCODER_ATTENTION_MASK, ENCODER_HIDDEN_STATES,
                     FUSED_DECODER, INPUT_IDS, KV_KINDS, LAST_HIDDEN_STATE, LOGITS, PAST_PREFIX, POSITION_IDS,
                     SEQUENCE, kv_layers, past, past_for, present)

# Buffer growth (positions) for graphs that return only the new positions' keys/values: the cache lives in
# buffers the runtime owns, written in place, never copied whole per step
APPEND_BLOCK = 32


class StepModel(Protocol):
    is_encoder_decoder: bool

    def start(self, inputs: dict[str, np.ndarray], expand: int = 1) -> Any: ...

    def step(self, state: Any, new_tokens: np.ndarray) -> np.ndarray: ...

    def reorder(self, state: Any, rows: np.ndarray) -> None: ...


def position_ids(attention_mask: np.ndarray, new: int) -> np.ndarray:
    """Positions of the last `new` tokens: transformers' `attention_mask.cumsum(-1) - 1`, with padding
    positions set to 1, so a left-padded row starts at position 0 like an unpadded one."""
    pos = np.cumsum(attention_mask, axis=1) - 1
    pos = np.where(attention_mask == 0, 1, pos)
    return pos[:, -new:].astype(np.int64)


def appends_cache(graph_spec) -> bool:
    """Whether a decoder graph's present.* hold only the new positions (axis `sequence`: export/attention.py),
    so the runtime keeps the cache, rather than the whole cache (`total_sequence`)."""
    outputs = {t.name: t for t in graph_spec.outputs}
    layer = kv_layers({t.name: t for t in graph_spec.inputs}, PAST_PREFIX)[0]
    spec = outputs.get(present(layer, KV_KINDS[0]))
    return spec is not None and spec.shape[2] == SEQUENCE


class DecoderOnlyModel:
    """GPT-2 style graph 'decoder': input_ids, attention_mask[, position_ids], past_key_values.{i}.key/value
    -> logits, present.{i}.key/value (the whole cache, or only the new positions: `appends_cache`)."""

    is_encoder_decoder = False

    def __init__(self, run: Callable, graph_spec, cache_block: int | None = None):
        self.run = run
        self.inputs = {t.name: t for t in graph_spec.inputs}
        self.layers = kv_layers(self.inputs, PAST_PREFIX)
        k = self.inputs[past(self.layers[0], "key")].shape
        self.heads, self.head_dim = k[1], k[3]
        self.uses_positions = POSITION_IDS in self.inputs
        self.appends = appends_cache(graph_spec)
        # Engines that re-plan for every new input shape (OpenVINO) run faster when the past keeps one
        # shape for many steps: the cache is then a buffer grown `cache_block` positions at a time, its
        # unused slots masked out (they add exact zeros to attention). Needs explicit position_ids.
        self.cache_block = cache_block if self.uses_positions else None

    def start(self, inputs: dict, expand: int = 1) -> dict:
        mask = np.repeat(np.asarray(inputs[ATTENTION_MASK]).astype(np.int64), expand, axis=0)
        rows = mask.shape[0]
        cache = {past(i, kv): np.zeros((rows, self.heads, 0, self.head_dim), np.float32)
                 for i in self.layers for kv in KV_KINDS}
        # past: buffers of `capacity` positions, the first `length` of them in use
        return {"mask": mask, "past": cache, "length": 0, "first": True}

    def step(self, state: dict, new_tokens: np.ndarray) -> np.ndarray:
        mask = state["mask"]
        if not state["first"]:  # the first call's tokens are the prompt, already in the mask
            mask = np.concatenate([mask, np.ones((mask.shape[0], new_tokens.shape[1]), np.int64)], axis=1)
        n, length = new_tokens.shape[1], state["length"]
        capacity = next(iter(state["past"].values())).shape[2]
        feed_mask = mask
        if capacity > length:  # unused buffer slots sit between the cache and the new tokens
            feed_mask = np.concatenate([mask[:, :length], np.zeros((mask.shape[0], capacity - length), np.int64),
                                        mask[:, length:]], axis=1)
        feeds = {INPUT_IDS: new_tokens.astype(np.int64), ATTENTION_MASK: feed_mask, **state["past"]}
        if self.uses_positions:
            feeds[POSITION_IDS] = position_ids(mask, n)
        out = self.run("decoder", feeds)
        new_cache = {past(i, kv): out[present(i, kv)] for i in self.layers for kv in KV_KINDS}
        if self.cache_block is not None:
            new_cache = self._store(state["past"], new_cache, length, n)
        elif self.appends:  # a contiguous cache the graph does not return whole (sliding windows)
            new_cache = {k: np.concatenate([state["past"][k], v], axis=2) for k, v in new_cache.items()}
        state.update(mask=mask, first=False, length=length + n, past=new_cache)
        return out[LOGITS][:, -1, :].astype(np.float32)

    def _store(self, cache: dict, new_cache: dict, length: int, n: int) -> dict:
        """Write the n new positions (the tail of each new cache tensor) into the buffers, growing them by blocks."""
        capacity = next(iter(cache.values())).shape[2]
        if length + n > capacity:
            block = self.cache_block
            assert block is not None, "_store runs only for a cache grown by blocks"
            grown = -(-(length + n) // block) * block
            cache = {k: np.concatenate([v[:, :, :length], np.zeros(v.shape[:2] + (grown - length, v.shape[3]), v.dtype)],
                                       axis=2) for k, v in cache.items()}
        for k, buf in cache.items():
            buf[:, :, length:length + n] = new_cache[k][:, :, -n:]
        return cache

    def reorder(self, state: dict, rows: np.ndarray) -> None:
        state["mask"] = state["mask"][rows]
        state["past"] = {k: v[rows] for k, v in state["past"].items()}


class FusedDecoderModel:
    """Graph 'decoder_fused' (export/fused_decoder.py: ONNX Runtime's fused ops) for rows without padding — one
    prompt, or prompts of one length, and the beams/samples made from them — and `portable` (the standard decoder
    graph) for left-padded batches, whose positions the fused graph cannot take.

    With `bind` (ONNX Runtime's IO binding: engine.bind_in_place) the cache is one buffer per layer and kind,
    bound once as both the graph's past and its present: the attention kernel writes the new positions into it,
    nothing is copied per step. The buffers grow `block` positions at a time (capped at the model's context),
    and are bound again when they grow or beams reorder them. Without it (the PyTorch reference, recording
    wrappers) the graph is fed the cache and returns it joined, like the portable graph."""

    is_encoder_decoder = False

    def __init__(self, run: Callable, graph_spec, portable: "DecoderOnlyModel | None", bind: Callable | None = None,
                 block: int = 256, context: int | None = None):
        self.run, self.portable, self.bind = run, portable, bind
        inputs = {t.name: t for t in graph_spec.inputs}
        self.layers = kv_layers(inputs, PAST_PREFIX)
        k = inputs[past(self.layers[0], "key")]
        self.heads, self.head_dim = k.shape[1], k.shape[3]
        self.cache_dtype = np.dtype(k.dtype)  # float32, or int8 (an int8 KV cache: quantize/kv_cache.py)
        self.shared = {present(i, kv): past(i, kv) for i in self.layers for kv in KV_KINDS}
        self.block, self.context = block, context
        logits = next(t for t in graph_spec.outputs if t.name == LOGITS)
        # [batch, 1, vocab]: the last position's (bundles before that returned every position's)
        self.vocab, self.last_only = logits.shape[-1], logits.shape[1] == 1

    def start(self, inputs: dict, expand: int = 1) -> dict:
        mask = np.asarray(inputs[ATTENTION_MASK])
        if not mask.all():
            if self.portable is None:  # only a caller stepping unpadded sequences leaves it out
                raise ValueError("FusedDecoderModel without a portable model takes unpadded rows only")
            return {"portable": self.portable.start(inputs, expand)}
        rows = mask.shape[0] * expand
        cache = {name: np.zeros((rows, self.heads, 0, self.head_dim), self.cache_dtype) for name in self.shared.values()}
        return {"portable": None, "rows": rows, "length": 0, "past": cache, "runner": None, "logits": None}

    def step(self, state: dict, new_tokens: np.ndarray) -> np.ndarray:
        if state["portable"] is not None:
            assert self.portable is not None
            return self.portable.step(state["portable"], new_tokens)
        total = state["length"] + new_tokens.shape[1]
        feeds = {INPUT_IDS: new_tokens.astype(np.int64), ATTENTION_MASK: np.ones((state["rows"], total), np.int64)}
        if self.bind is not None:
            self._reserve(state, total)
            if state["runner"] is None:
                state["runner"] = self.bind(state["past"], self.shared)
            shape = (state["rows"], 1 if self.last_only else new_tokens.shape[1], self.vocab)
            if state["logits"] is None or state["logits"].shape != shape:
                state["logits"] = np.empty(shape, np.float32)
            # one array the engine writes every step's logits into (bound once): a fresh 200 KB array per step
            # costs page faults, and a copy another pass over it
            out = state["runner"](feeds, {LOGITS: state["logits"]})
        else:
            out = self.run(FUSED_DECODER, {**feeds, **state["past"]})
            state["past"] = {past_for(name): out[name] for name in self.shared}
        state["length"] = total
        return out[LOGITS][:, -1, :]  # float32 (the graph's); with `bind`, overwritten by the next step

    def _reserve(self, state: dict, total: int) -> None:
        """Buffers of at least `total` positions, the used ones kept."""
        capacity = next(iter(state["past"].values())).shape[2]
        if capacity >= total:
            return
        grown = -(-total // self.block) * self.block
        if self.context:
            grown = max(total, min(grown, self.context))
        length = state["length"]
        for name, buf in state["past"].items():
            new = np.zeros(buf.shape[:2] + (grown, buf.shape[3]), buf.dtype)
            new[:, :, :length] = buf[:, :, :length]
            state["past"][name] = new
        state["runner"] = None

    def reorder(self, state: dict, rows: np.ndarray) -> None:
        if state["portable"] is not None:
            assert self.portable is not None
            self.portable.reorder(state["portable"], rows)
        else:
            state["past"] = {k: np.ascontiguousarray(v[rows]) for k, v in state["past"].items()}
            state["runner"] = None


class EncoderDecoderModel:
    """Graphs 'encoder', 'cross_kv' (once per input) and 'decoder' (self cache grows, cross cache constant)."""

    is_encoder_decoder = True

    def __init__(self, run: Callable, graphs: dict):
        self.run = run
        self.encoder_inputs = [t.name for t in graphs["encoder"].inputs]
        self.cross_inputs = {t.name for t in graphs["cross_kv"].inputs}
        self.dec_inputs = {t.name: t for t in graphs["decoder"].inputs}
        self.layers = kv_layers(self.dec_inputs, PAST_PREFIX)
        k = self.dec_inputs[past(self.layers[0], "key", "decoder")].shape
        self.heads, self.head_dim = k[1], k[3]

    def start(self, inputs: dict, expand: int = 1) -> dict:
        enc = self.run("encoder", {n: inputs[n] for n in self.encoder_inputs if n in inputs})[LAST_HIDDEN_STATE]
        mask = inputs.get(ATTENTION_MASK)
        if mask is None:
            mask = np.ones(enc.shape[:2], np.int64)
        mask = np.asarray(mask).astype(np.int64)
        feeds = {ENCODER_HIDDEN_STATES: enc, ENCODER_ATTENTION_MASK: mask}
        cross = self.run("cross_kv", {k: v for k, v in feeds.items() if k in self.cross_inputs})
        rows = enc.shape[0] * expand
        state: dict[str, Any] = {"enc_mask": np.repeat(mask, expand, axis=0), "past": {}}
        for i in self.layers:
            for kv in KV_KINDS:
                state["past"][past(i, kv, "encoder")] = np.repeat(cross[present(i, kv, "encoder")], expand, axis=0)
                state["past"][past(i, kv, "decoder")] = np.zeros((rows, self.heads, 0, self.head_dim), np.float32)
        return state

    def step(self, state: dict, new_tokens: np.ndarray) -> np.ndarray:
        feeds = {DECODER_INPUT_IDS: new_tokens.astype(np.int64), ENCODER_ATTENTION_MASK: state["enc_mask"],
                 **state["past"]}
        out = self.run("decoder", feeds)
        for i in self.layers:
            for kv in KV_KINDS:
                state["past"][past(i, kv, "decoder")] = out[present(i, kv, "decoder")]
        return out[LOGITS][:, -1, :].astype(np.float32)

    def reorder(self, state: dict, rows: np.ndarray) -> None:
        # Beams only move within their own input, whose rows share one encoder output: the cross cache
        # and the encoder mask are already right, and copying them every step would cost the most.
        cross = {past(i, kv, "encoder") for i in self.layers for kv in KV_KINDS}
        state["past"] = {k: v if k in cross else v[rows] for k, v in state["past"].items()}
