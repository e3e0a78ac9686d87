"""Generation on the device, written once for every generative task (NumPy only).

    ids = generate(model, inputs, prompt, GenerationConfig(max_new_tokens=32, num_beams=4))

`model` is any StepModel (step_models.py: decoder-only or encoder-decoder, on any engine); the loop
(search.py) does greedy search, sampling and beam search with transformers 4.57's semantics, the
logits processors (processors.py) run in transformers' order, and streaming.py turns a token stream
into stable text.
"""
from .config import GenerationConfig
from .processors import ProcessorList, build_processors
from .search import generate, stream_generate
from .step_models import DecoderOnlyModel, EncoderDecoderModel, FusedDecoderModel, StepModel, position_ids
from .streaming import TextStream, TextStreamer, stream_text

__all__ = [
    "GenerationConfig", "generate", "stream_generate", "StepModel", "DecoderOnlyModel", "EncoderDecoderModel",
    "FusedDecoderModel",
    "position_ids", "ProcessorList", "build_processors", "TextStream", "TextStreamer", "stream_text",
]
