"""Which decoders get ONNX Runtime's fused graph (export/fused_decoder.py `unsupported`): the families it states
exactly, and a named reason for everything else (the export then keeps the portable graph only). Tiny torch
models, no export: the graphs themselves are tested end to end in tests/e2e/test_llm_families.py."""
from __future__ import annotations

import pytest
import torch

from edgetool.export import fused_decoder

BASE = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=64,
            max_position_embeddings=64, vocab_size=100, head_dim=16, pad_token_id=0)


def _model(config_class: str, **kw):
    import transformers

    torch.manual_seed(0)
    config = getattr(transformers, config_class)(**{**BASE, **kw})
    return transformers.AutoModelForCausalLM.from_config(config).eval()


@pytest.mark.parametrize("config_class, kw", [
    ("LlamaConfig", {}), ("MistralConfig", dict(sliding_window=8)), ("Qwen2Config", {}), ("Qwen3Config", {}),
    ("Phi3Config", {}), ("SmolLM3Config", dict(no_rope_layer_interval=2)), ("GemmaConfig", {}),
    ("Gemma2Config", dict(sliding_window=8)), ("GraniteConfig", dict(residual_multiplier=0.5)),
])
def test_supported_families(config_class, kw):
    assert fused_decoder.unsupported(_model(config_class, **kw)) is None


@pytest.mark.parametrize("config_class, kw, windows", [
    ("Qwen2Config", dict(use_sliding_window=True, sliding_window=8, max_window_layers=1), [None, 8]),
    ("Qwen3Config", dict(use_sliding_window=True, sliding_window=8, max_window_layers=1), [None, 8]),
    ("SmolLM3Config", dict(use_sliding_window=True, sliding_window=8, no_rope_layer_interval=2), [None, 8]),  # its NoPE layers
    ("Qwen2Config", dict(use_sliding_window=False, sliding_window=8), [None, None]),
    ("Gemma2Config", dict(sliding_window=8), [8, None]),
    ("MistralConfig", dict(sliding_window=8), [8, 8]),
])
def test_sliding_window_layers_get_their_own_window(config_class, kw, windows):
    """Each layer's GroupQueryAttention window is transformers' own for that layer: sliding layers from
    max_window_layers on (Qwen2, Qwen3 with use_sliding_window), the NoPE layers (SmolLM3), alternating (Gemma 2),
    all (Mistral)."""
    model = _model(config_class, **kw)
    assert fused_decoder.unsupported(model) is None
    assert fused_decoder.FAMILIES[model.config.model_type].windows(model.config) == windows


@pytest.mark.parametrize("config_class, kw, reason", [
    ("GPTNeoXConfig", {}, "model type 'gpt_neox'"),
    ("LlamaConfig", dict(hidden_act="gelu"), "activation 'gelu'"),
    ("Gemma2Config", dict(hidden_activation="gelu"), "activation 'gelu'"),  # Gemma 2 names it hidden_activation
    ("LlamaConfig", dict(head_dim=8), "head size 8"),
    ("LlamaConfig", dict(mlp_bias=True), "MLP biases"),
    ("LlamaConfig", dict(attention_bias=True), "output-projection bias"),
    ("LlamaConfig", dict(rope_scaling={"rope_type": "dynamic", "factor": 2.0}), "RoPE type 'dynamic'"),
    ("Phi3Config", dict(partial_rotary_factor=0.5), "partial rotary embedding"),
])
def test_what_the_graph_cannot_state_is_named(config_class, kw, reason):
    assert reason in (fused_decoder.unsupported(_model(config_class, **kw)) or "")
