"""Generative pipelines: text-generation, text2text-generation, summarization, translation.

Outputs are shaped like the transformers 4.57 pipelines. Generation settings resolve as transformers
does: call options > the model's generation_config.json > the pipeline's defaults.
"""
from __future__ import annotations

import sys

import numpy as np

from ..errors import UsageError
from ..generation import DecoderOnlyModel, EncoderDecoderModel, GenerationConfig, generate
from ..generation.streaming import TextStream
from ..preprocess.text import TextTokenizer, check_texts
from .base import Pipeline

class GenerativePipeline(Pipeline):
    defaults: dict = {"max_new_tokens": 256, "num_beams": 4}
    clean_up = False

    def setup(self) -> None:
        self.tokenizer = TextTokenizer(self.bundle.file("tokenizer.json"), self.bundle.processing["tokenizer"])
        gen = self.bundle.generation or {}
        self.model_config = dict(gen.get("config") or {})
        if "decoder" in self.bundle.graphs and "encoder" in self.bundle.graphs:
            self.model = EncoderDecoderModel(self.run_graph, self.bundle.graphs)
        else:
            self.model = DecoderOnlyModel(self.run_graph, self.bundle.graphs["decoder"],
                                          cache_block=getattr(self.engines["decoder"], "cache_block", None))

    def generation_config(self, generate_kwargs: dict | None = None, **kwargs) -> GenerationConfig:
        """transformers accepts options flat or as generate_kwargs={...}; so do we."""
        kwargs = {**(generate_kwargs or {}), **kwargs}
        merged = {**self.defaults, **self.model_config}
        if (self.defaults.get("max_new_tokens") is not None and "max_new_tokens" not in self.model_config
                and self.model_config.get("max_length", 20) != 20):
            merged["max_new_tokens"] = None  # a model's own max_length wins over the pipeline default
        cfg = GenerationConfig.from_dict(merged)
        return cfg.update(**kwargs)

    def decode(self, ids) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up=self.clean_up)

    def _generate(self, inputs: dict, prompt: np.ndarray, cfg: GenerationConfig, stream: bool) -> np.ndarray:
        if not stream:
            return generate(self.model, inputs, prompt, cfg)
        text = TextStream(lambda toks: self.decode(toks))

        def streamer(tokens):  # the first row is shown live
            sys.stdout.write(text.push(int(tokens[0])))
            sys.stdout.flush()
        ids = generate(self.model, inputs, prompt, cfg, streamer)
        sys.stdout.write(text.flush() + "\n")
        return ids

    def format(self, result) -> str:
        rows = result if isinstance(result, list) else [result]
        flat = [r for row in rows for r in (row if isinstance(row, list) else [row])]
        return "\n".join(next(iter(r.values())) for r in flat)


class TextGenerationPipeline(GenerativePipeline):
    defaults = {"max_new_tokens": 256, "do_sample": True, "temperature": 0.7}
    clean_up = True

    def __call__(self, inputs, return_full_text: bool = True, stream: bool = False, **gen_kwargs):
        prompts = check_texts(inputs, "prompt")
        cfg = self.generation_config(**gen_kwargs)
        results = []
        for prompt in prompts:
            enc = self.tokenizer.encode([prompt], add_special_tokens=False, truncation=False)
            ids = enc.arrays["input_ids"]
            if ids.shape[1] >= self.tokenizer.max_length:
                raise UsageError(f"The prompt has {ids.shape[1]} tokens; the model's context is "
                                 f"{self.tokenizer.max_length}. Shorten the prompt.")
            out = self._generate({"attention_mask": enc.arrays["attention_mask"]}, ids, cfg, stream)
            prompt_len = len(self.decode(ids[0]))
            records = []
            for seq in out:
                new = self.decode(seq)[prompt_len:]
                records.append({"generated_text": prompt + new if return_full_text else new})
            results.append(records)
        return results[0] if isinstance(inputs, str) else results


class Text2TextGenerationPipeline(GenerativePipeline):
    key = "generated_text"

    def __call__(self, inputs, stream: bool = False, **gen_kwargs):
        texts = check_texts(inputs)
        cfg = self.generation_config(**gen_kwargs)
        prefix = self.bundle.processing.get("prefix") or ""
        start = cfg.decoder_start_token_id
        if start is None:
            raise UsageError("The bundle's generation config has no decoder_start_token_id; re-export the model.")
        results = []
        for text in texts:
            enc = self.tokenizer.encode([prefix + text], truncation=False)
            inputs_ = {"input_ids": enc.arrays["input_ids"], "attention_mask": enc.arrays["attention_mask"]}
            out = self._generate(inputs_, np.array([[start]], np.int64), cfg, stream)
            results.append([{f"{self.key}": self.decode(seq)} for seq in out])
        if isinstance(inputs, str):
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

    def __call__(self, inputs, stream: bool = False, **gen_kwargs):
        from ..preprocess.image import as_image_list

        images, single = as_image_list(inputs)
        cfg = self.generation_config(**gen_kwargs)
        results = []
        for img in images:
            out = self._generate(self.processor([img]), np.array([[cfg.decoder_start_token_id]], np.int64), cfg, stream)
            results.append([{"generated_text": self.decode(seq)} for seq in out])
        return results[0] if single else results
