"""Generative pipelines: text-generation, text2text-generation, summarization, translation, image-to-text.

Outputs are shaped like the transformers 4.57 pipelines. Generation settings resolve as transformers
does: call options > the model's generation_config.json > the pipeline's defaults. The family's head
(runtime/heads/generation.py) gives the StepModel; the loop is runtime/generation.

`pipe.stream(inputs, **options)` is the same call as a generator of text pieces (see `stream`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Generator

import numpy as np

from ..errors import UsageError
from ..generation import GenerationConfig, generate
from ..generation.search import generate_steps
from ..generation.streaming import TextStream
from ..names import ATTENTION_MASK, INPUT_IDS
from ..preprocess.text import TextTokenizer, check_texts
from .base import Pipeline, Prepared

if TYPE_CHECKING:
    from ..heads.generation import DecoderHead, Seq2SeqHead


class GenerativePipeline(Pipeline):
    """One input at a time; `Prepared.extra` is the decoder prompt (token ids [1, n])."""

    head: DecoderHead | Seq2SeqHead
    defaults: dict = {"max_new_tokens": 256, "num_beams": 4}
    clean_up = False

    def setup(self) -> None:
        self.tokenizer = TextTokenizer(self.bundle.file("tokenizer.json"), self.bundle.processing["tokenizer"])
        gen = self.bundle.generation or {}
        self.model_config = dict(gen.get("config") or {})
        self.model = self.head.model

    def generation_config(self, generate_kwargs: dict | None = None, **kwargs) -> GenerationConfig:
        """transformers accepts options flat or as generate_kwargs={...}; so do we."""
        kwargs = {**(generate_kwargs or {}), **kwargs}
        merged = {**self.defaults, **self.model_config}
        if (self.defaults.get("max_new_tokens") is not None and "max_new_tokens" not in self.model_config
                and self.model_config.get("max_length", 20) != 20):
            merged["max_new_tokens"] = None  # a model's own max_length wins over the pipeline default
        cfg = GenerationConfig.from_dict(merged)
        return cfg.update(**kwargs)

    def sanitize(self, **gen_kwargs) -> dict:
        return {"cfg": self.generation_config(**gen_kwargs)}

    def decode(self, ids) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up=self.clean_up)

    def forward(self, prepared: Prepared, opts: dict) -> np.ndarray:
        return generate(self.model, prepared.feeds, prepared.extra, opts["cfg"])

    def stream(self, inputs, **options) -> Generator[str, None, object]:
        """The call as a generator of text: yields the new text of the first sequence of each input as it
        becomes final (whole words; CJK characters and line ends at once; see generation/streaming.py),
        one input after the other with "\\n" between inputs, and returns what `pipe(inputs, **options)`
        returns. Joined, the pieces of one input are the decoded new tokens: the generated text (for
        text-generation with return_full_text, the part after the prompt). Greedy search and sampling
        only; beam search is a UsageError."""
        opts = self.sanitize(**options)
        items, single = self.split(inputs, opts)
        results: list = []
        for n, batch in enumerate(self.batches(items, opts)):
            if n:
                yield "\n"
            prepared = self.preprocess(batch, opts)
            ids = yield from self._stream_ids(prepared, opts["cfg"])
            results += self.postprocess(prepared, ids, opts)
        return self.unwrap(results, single, opts)

    def _stream_ids(self, prepared: Prepared, cfg: GenerationConfig) -> Generator[str, None, np.ndarray]:
        text = TextStream(self.decode)
        steps = generate_steps(self.model, prepared.feeds, prepared.extra, cfg)
        while True:
            try:
                tokens = next(steps)
            except StopIteration as done:
                ids = done.value
                break
            piece = text.push(int(tokens[0]))  # the first row is shown live
            if piece:
                yield piece
        rest = text.flush()
        if rest:
            yield rest
        return ids


class TextGenerationPipeline(GenerativePipeline):
    defaults = {"max_new_tokens": 256, "do_sample": True, "temperature": 0.7}
    clean_up = True

    def sanitize(self, return_full_text: bool = True, **gen_kwargs) -> dict:
        return {"return_full_text": return_full_text, **super().sanitize(**gen_kwargs)}

    def split(self, inputs, opts):
        return check_texts(inputs, "prompt"), isinstance(inputs, str)

    def preprocess(self, batch, opts) -> Prepared:
        enc = self.tokenizer.encode(batch, add_special_tokens=False, truncation=False)
        ids = enc.arrays[INPUT_IDS]
        if ids.shape[1] >= self.tokenizer.max_length:
            raise UsageError(f"The prompt has {ids.shape[1]} tokens; the model's context is "
                             f"{self.tokenizer.max_length}. Shorten the prompt.")
        return Prepared(batch, {ATTENTION_MASK: enc.arrays[ATTENTION_MASK]}, extra=ids)

    def postprocess(self, prepared, out, opts) -> list:
        (prompt,) = prepared.items
        prompt_len = len(self.decode(prepared.extra[0]))
        records = []
        for seq in out:
            new = self.decode(seq)[prompt_len:]
            records.append({"generated_text": prompt + new if opts["return_full_text"] else new})
        return [records]


class Text2TextGenerationPipeline(GenerativePipeline):
    key = "generated_text"

    def sanitize(self, **gen_kwargs) -> dict:
        opts = super().sanitize(**gen_kwargs)
        if opts["cfg"].decoder_start_token_id is None:
            raise UsageError("The bundle's generation config has no decoder_start_token_id; re-export the model.")
        return opts

    def split(self, inputs, opts):
        return check_texts(inputs), isinstance(inputs, str)

    def preprocess(self, batch, opts) -> Prepared:
        prefix = self.bundle.processing.get("prefix") or ""
        enc = self.tokenizer.encode([prefix + text for text in batch], truncation=False)
        feeds = {INPUT_IDS: enc.arrays[INPUT_IDS], ATTENTION_MASK: enc.arrays[ATTENTION_MASK]}
        return Prepared(batch, feeds, extra=np.array([[opts["cfg"].decoder_start_token_id]], np.int64))

    def postprocess(self, prepared, out, opts) -> list:
        return [[{self.key: self.decode(seq)} for seq in out]]

    def unwrap(self, results, single, opts):
        if single:
            return results[0]
        return [r[0] for r in results] if all(len(r) == 1 for r in results) else results


class SummarizationPipeline(Text2TextGenerationPipeline):
    key = "summary_text"


class TranslationPipeline(Text2TextGenerationPipeline):
    key = "translation_text"


class ImageToTextPipeline(GenerativePipeline):
    defaults = {"max_new_tokens": 256}

    def setup(self) -> None:
        from ..preprocess.image import image_processor

        super().setup()
        self.processor = image_processor(self.bundle.processing["image"])

    def split(self, inputs, opts):
        from ..preprocess.image import as_image_list

        return as_image_list(inputs)

    def preprocess(self, batch, opts) -> Prepared:
        return Prepared(batch, self.processor(batch), extra=np.array([[opts["cfg"].decoder_start_token_id]], np.int64))

    def postprocess(self, prepared, out, opts) -> list:
        return [[{"generated_text": self.decode(seq)} for seq in out]]
