"""export/compat.py: the transformers 4 / 5 differences, checked in whichever is installed (make test runs
4.57, make test-transformers5 runs this file under transformers 5 too)."""
from __future__ import annotations

import pytest

from edgetool.export import compat


def _configs():
    from transformers import BartConfig, GPT2Config, T5Config, VisionEncoderDecoderConfig, ViTConfig, WhisperConfig

    vit = ViTConfig(hidden_size=32, num_hidden_layers=5, num_attention_heads=8, intermediate_size=64)
    gpt2 = GPT2Config(n_layer=3, n_head=2, n_embd=32, add_cross_attention=True, is_decoder=True)
    return [
        # encoder and decoder sizes differ on purpose: the decoder's must be picked
        (BartConfig(d_model=32, encoder_layers=3, decoder_layers=1, encoder_attention_heads=8,
                    decoder_attention_heads=2), (1, 2, 16)),
        (WhisperConfig(d_model=32, encoder_layers=3, decoder_layers=1, encoder_attention_heads=8,
                       decoder_attention_heads=2), (1, 2, 16)),
        (T5Config(d_model=32, d_kv=8, num_layers=3, num_decoder_layers=1, num_heads=4), (1, 4, 8)),
        (GPT2Config(n_layer=2, n_head=4, n_embd=32), (2, 4, 8)),
        (VisionEncoderDecoderConfig.from_encoder_decoder_configs(vit, gpt2), (3, 2, 16)),
    ]


@pytest.mark.parametrize("index", range(5))
def test_decoder_dims_are_the_decoders(index):
    config, want = _configs()[index]
    assert compat.decoder_dims(config) == want, type(config).__name__


def test_attention_choice():
    from transformers import BartConfig, T5Config

    t5_choice = "eager" if compat.transformers_major() >= 5 else None
    assert compat.attn_implementation(None, T5Config()) == t5_choice
    assert compat.attn_implementation("eager", T5Config()) == "eager"
    assert compat.attn_implementation(None, BartConfig()) is None  # transformers picks (sdpa) for the dynamo export


def test_pipelines_known():
    assert compat.transformers_pipeline_available("text-classification")
    assert compat.transformers_pipeline_available("sentiment-analysis")  # an alias
    removed = ("summarization", "translation", "text2text-generation", "image-to-text", "question-answering")
    assert all(compat.transformers_pipeline_available(t) == (compat.transformers_major() < 5) for t in removed)
