"""Generation heads: which StepModel drives the family's graphs (runtime/generation/step_models.py).

- decoder (text-generation): graph "decoder" with a KV cache; where the engine runs it, "decoder_fused" (ONNX
  Runtime's fused form) for unpadded rows.
- seq2seq (text2text-generation, summarization, translation) and vision-encoder-decoder
  (image-to-text): graphs "encoder", "cross_kv" and "decoder".
"""
from __future__ import annotations

from ..generation import DecoderOnlyModel, EncoderDecoderModel
from ..generation.step_models import APPEND_BLOCK, FusedDecoderModel, appends_cache
from ..names import FUSED_DECODER
from .base import Head


class DecoderHead(Head):
    def setup(self) -> None:
        gen = self.bundle.manifest.generation
        graph = self.bundle.graphs["decoder"]
        # Block-grown buffers: for engines that re-plan per input shape, and for every graph that returns only
        # the new positions (the runtime's buffers are the cache). A sliding-window mask counts cache slots:
        # unused slots of a block-grown buffer would shift it, so those keep a contiguous cache.
        block = getattr(self.pipe.engines["decoder"], "cache_block", None) or (APPEND_BLOCK if appends_cache(graph) else None)
        if gen is not None and gen.sliding_window is not None:
            block = None
        self.model: DecoderOnlyModel | FusedDecoderModel = DecoderOnlyModel(self.pipe.run_graph, graph, cache_block=block)
        fused = self.pipe.engines.get(FUSED_DECODER)
        if fused is not None:  # ONNX Runtime's form of the decoder (export/fused_decoder.py)
            art = getattr(fused, "artifact", None)  # its cache dtype (an int8 KV cache: quantize/kv_cache.py)
            spec = self.bundle.graph_spec(art) if art is not None else self.bundle.graphs[FUSED_DECODER]
            self.model = FusedDecoderModel(self.pipe.run_graph, spec, self.model,
                                           bind=getattr(fused, "bind_in_place", None),
                                           context=gen.context if gen is not None else None)


class Seq2SeqHead(Head):
    def setup(self) -> None:
        self.model = EncoderDecoderModel(self.pipe.run_graph, self.bundle.graphs)
