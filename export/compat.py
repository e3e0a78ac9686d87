"""Where transformers 4.57 (the parity oracle) and transformers 5 differ for export, in one place.

The export side asks this module instead of testing versions itself. What differs and how it is handled:

- Decoder sizes (`decoder_dims`): `config.get_text_config(decoder=True)` names the decoder's layers and heads
  with the generic attributes (num_hidden_layers, num_attention_heads) in both; transformers 5 leaves the
  encoder-decoder names (decoder_layers, decoder_attention_heads) on that view at their class defaults (12 / 16
  for a 2-layer BART), so they are never read from it. T5 keeps num_decoder_layers (the generic name there is the
  encoder's).
- Attention (`attn_implementation`): transformers 5 gives T5-style models (relative position bias added to the
  scores) SDPA attention, whose decomposition the dynamo exporter turns into an invalid view; their eager
  attention traces. transformers 4 has only eager attention for them.
- Image processors: transformers 5 makes the torchvision backend the default; export never loads an image
  processor (it copies preprocessor_config.json; the runtime preprocesses in NumPy), and the reference
  builders' processor classes fall back to their PIL versions without torchvision, saving the same
  image_processor_type. Nothing to do here.
- Models are built on the meta device before their weights load (transformers 5): a non-persistent buffer
  made in __init__ stays uninitialized. The reference models compute such constants instead.
- Pipelines: transformers 5 removed several (summarization, translation, text2text-generation, image-to-text,
  question-answering): golden answers are recorded with edgetool's own pipelines on PyTorch engines, never with
  transformers' (`transformers_pipeline_available` tells `bench --against torch` which exist).
"""
from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def transformers_major() -> int:
    import transformers

    return int(transformers.__version__.split(".")[0])


def decoder_dims(config) -> tuple[int, int, int]:
    """(layers, heads, head_dim) of the decoder's self-attention cache, for a decoder-only or an encoder-decoder
    config (BART, T5, Whisper, vision encoder-decoder)."""
    if getattr(config, "decoder_num_hidden_layers", None):  # Moonshine: decoder_* names, grouped-query cache
        heads = int(config.decoder_num_attention_heads)
        kv_heads = getattr(config, "decoder_num_key_value_heads", None) or heads
        return int(config.decoder_num_hidden_layers), int(kv_heads), int(config.hidden_size // heads)
    if hasattr(config, "get_text_config"):
        dec = config.get_text_config(decoder=True)
        layers = getattr(dec, "num_decoder_layers", None) or dec.num_hidden_layers
        heads = dec.num_attention_heads
    else:  # a config without the text-config view: its own decoder names are right
        dec = config
        layers = getattr(dec, "decoder_layers", None) or getattr(dec, "num_decoder_layers", None) or dec.num_hidden_layers
        heads = getattr(dec, "decoder_attention_heads", None) or dec.num_attention_heads
    head_dim = getattr(dec, "d_kv", None) or getattr(dec, "head_dim", None) or dec.hidden_size // heads
    return int(layers), int(heads), int(head_dim)


# Model types whose attention adds a relative position bias to the scores (T5 and its descendants).
_POSITION_BIAS_TYPES = frozenset({"t5", "mt5", "umt5", "longt5", "switch_transformers", "pop2piano", "udop"})


def attn_implementation(requested: str | None, config) -> str | None:
    """The attention implementation to load a model with: the family's choice (None: transformers picks),
    except where this transformers' default does not export."""
    if requested is None and transformers_major() >= 5 and getattr(config, "model_type", None) in _POSITION_BIAS_TYPES:
        return "eager"
    return requested


def transformers_pipeline_available(task: str) -> bool:
    """Whether this transformers still has a pipeline for `task` (transformers 5 removed several)."""
    from transformers.pipelines import SUPPORTED_TASKS, TASK_ALIASES

    return TASK_ALIASES.get(task, task) in SUPPORTED_TASKS
