"""Generation on the device, written once for every generative task (NumPy only).

`generate(model, prompt_ids, config)` drives any `StepModel` (decoder-only or encoder-decoder, on any
engine) with greedy search, sampling or beam search, with transformers' semantics.
"""
from .config import GenerationConfig
from .search import generate, stream_generate
from .step_models import DecoderOnlyModel, EncoderDecoderModel, StepModel

__all__ = ["GenerationConfig", "generate", "stream_generate", "StepModel", "DecoderOnlyModel", "EncoderDecoderModel"]
