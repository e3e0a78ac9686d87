"""Grouped-query attention traced without repeating the cache.

transformers' sdpa and eager attention repeat each key/value head for every query head of its group
(`repeat_kv`) before the two matmuls. Traced into ONNX, that copy is an Expand + Reshape of the whole cache
in every layer at every generated token: on a SmolLM-135M-shaped decoder (9 query heads, 3 key/value
heads) it was a third of the time of a step at position 512. Folding the group into the query's rows
instead — [b, kv_heads, group * q_len, head_dim] against the cache as it is — computes the same scores
with no copy of the cache, in standard ONNX ops every engine runs.

The cache is not copied either. transformers' cache joins past and new keys (a Concat of the whole cache
at every step, which made a decode step at position 512 1.6x the step at 16 once the weights were 4-bit);
`AppendCache` remembers the two parts, the attention reads them apart (scores against the past and the
new keys side by side: only the small score matrix is joined), and the graph returns just the new
positions (`present.*` with axis `sequence`), which the runtime writes into its own pre-allocated
buffers (runtime/generation/step_models.py).

`grouped_attention()` is a GraphExport patch: the traced graph (and the torch run the parity check
compares it with) use this attention; the transformers pipeline the gate compares answers with keeps
its own.
"""
from __future__ import annotations

import contextlib

import torch

NAME = "edgetool_grouped"

# key/value tensors AppendCache handed to attention -> (past part, new part, the joined tensor: kept so
# that its id stays its own while the entry lives); cleared by every AppendCache
_PARTS: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}


def _append_cache_class():
    from transformers.cache_utils import DynamicCache

    class AppendCache(DynamicCache):
        """A DynamicCache holding the past, that remembers which part of each joined key/value is past and
        which is new (`new[layer]`: the new positions' key and value, what the graph returns)."""

        def __init__(self, pairs):
            super().__init__()
            _PARTS.clear()
            for i, (k, v) in enumerate(pairs):
                super().update(k, v, i)
            self.new: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

        def update(self, key_states, value_states, layer_idx, cache_kwargs=None):
            layer = self.layers[layer_idx]
            past_k, past_v = layer.keys, layer.values
            k, v = super().update(key_states, value_states, layer_idx, cache_kwargs)
            _PARTS[id(k)], _PARTS[id(v)] = (past_k, key_states, k), (past_v, value_states, v)
            self.new[layer_idx] = (key_states, value_states)
            return k, v

    return AppendCache


def plain_cache(pairs):
    """A DynamicCache holding the past (key, value) pairs, whose joined tensors attention reads whole: the
    parts an earlier AppendCache remembered are forgotten first (a freed tensor's id may be reused)."""
    from transformers.cache_utils import DynamicCache

    _PARTS.clear()
    cache = DynamicCache()
    for i, (k, v) in enumerate(pairs):
        cache.update(k, v, i)
    return cache


def append_cache(pairs):
    """An AppendCache holding the past (key, value) pairs, one per layer."""
    return _append_cache_class()(pairs)


def grouped_attention_forward(module, query, key, value, attention_mask, dropout: float = 0.0,
                              scaling: float | None = None, **kwargs):
    """query [b, heads, q, d], key/value [b, kv_heads, t, d], attention_mask additive [b, 1, q, t] or None
    -> (output [b, q, heads, d], None), as transformers' attention functions return."""
    b, heads, q_len, d = query.shape
    kv_heads = key.shape[1]
    group = heads // kv_heads
    scale = scaling if scaling is not None else d ** -0.5
    # query head g*group + r pairs with key head g: rows (r, i) of group g
    q = query.reshape(b, kv_heads, group * q_len, d)
    split_k, split_v = _PARTS.get(id(key)), _PARTS.get(id(value))
    # (keys, values) read apart: the cache's past and the new positions, never joined (see module doc)
    parts = [(split_k[0], split_v[0]), (split_k[1], split_v[1])] if split_k and split_v else [(key, value)]
    scores = torch.cat([torch.matmul(q, k.transpose(2, 3)) for k, _ in parts], dim=-1) * scale
    if attention_mask is not None:
        mask = attention_mask[:, :, :, : key.shape[-2]]
        scores = (scores.reshape(b, kv_heads, group, q_len, -1) + mask.unsqueeze(2)).reshape(b, kv_heads, group * q_len, -1)
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    out, start = None, 0
    for k, v in parts:
        length = k.shape[2]
        term = torch.matmul(probs[..., start:start + length], v)
        out, start = term if out is None else out + term, start + length
    return out.reshape(b, heads, q_len, d).transpose(1, 2).contiguous(), None


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask

    AttentionInterface.register(NAME, grouped_attention_forward)
    ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, eager_mask)


def uses_grouped_cache(config) -> bool:
    """Whether the model caches fewer key/value heads than it has query heads, with transformers' default
    (sdpa) attention — the case this attention is for. Families that need eager attention (Gemma 2's
    soft-capping) keep it."""
    heads = getattr(config, "num_attention_heads", None)
    kv_heads = getattr(config, "num_key_value_heads", None)
    return (getattr(config, "_attn_implementation", None) == "sdpa" and isinstance(heads, int)
            and isinstance(kv_heads, int) and 0 < kv_heads < heads)


def appends_cache(config) -> bool:
    """Whether the decoder graph returns only the new positions' keys/values (grouped attention applies)."""
    return uses_grouped_cache(config) or getattr(config, "_attn_implementation", None) == NAME


@contextlib.contextmanager
def grouped_attention(model):
    """Run `model` with grouped attention inside the block, where it applies (see module doc)."""
    config = model.config
    if not uses_grouped_cache(config):
        yield
        return
    _register()
    before = config._attn_implementation
    config._attn_implementation = NAME
    try:
        yield
    finally:
        config._attn_implementation = before
