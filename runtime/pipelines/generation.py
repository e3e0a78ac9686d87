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
from ..preprocess.chat import check_chat, is_chat, render_chat
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

    def fit(self, prepared: Prepared, opts: dict) -> GenerationConfig:
        """The generation config for this input, fitted to the model's limits (decoder-only: its context)."""
        return opts["cfg"]

    def forward(self, prepared: Prepared, opts: dict) -> np.ndarray:
        return generate(self.model, prepared.feeds, prepared.extra, self.fit(prepared, opts),
                        token_text=self.tokenizer.token_text)

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
            ids = yield from self._stream_ids(prepared, self.fit(prepared, opts))
            results += self.postprocess(prepared, ids, opts)
        return self.unwrap(results, single, opts)

    def _stream_ids(self, prepared: Prepared, cfg: GenerationConfig) -> Generator[str, None, np.ndarray]:
        text = TextStream(self.decode)
        steps = generate_steps(self.model, prepared.feeds, prepared.extra, cfg, token_text=self.tokenizer.token_text)
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


class Chat:
    """One chat input (a list of messages), kept apart from a list of prompts."""

    def __init__(self, messages: list[dict]):
        self.messages = messages


class TextGenerationPipeline(GenerativePipeline):
    defaults = {"max_new_tokens": 256, "do_sample": True, "temperature": 0.7}
    clean_up = True

    def setup(self) -> None:
        super().setup()
        gen = self.bundle.manifest.generation
        # positions the model takes, prompt included: its position table (manifest) and the tokenizer's limit
        self.context = min(c for c in (gen.context if gen else None, self.tokenizer.max_length) if c)

    def sanitize(self, return_full_text: bool | None = None, continue_final_message: bool | None = None,
                 chat: bool = False, **gen_kwargs) -> dict:
        """chat=True: each prompt is one user message of a chat (the reply only, unless return_full_text)."""
        asked = {**(gen_kwargs.get("generate_kwargs") or {}), **gen_kwargs}
        if return_full_text is None:
            return_full_text = not chat
        return {"return_full_text": return_full_text, "chat": chat, "length_asked": "max_new_tokens" in asked or "max_length" in asked,
                "continue_final_message": continue_final_message, **super().sanitize(**gen_kwargs)}

    def fit(self, prepared: Prepared, opts: dict) -> GenerationConfig:
        """A length the caller asked for that passes the context is an error; a default one is cut to it."""
        cfg, n = opts["cfg"], prepared.extra.shape[1]
        total = cfg.max_length_for(n)
        if total <= self.context:
            return cfg
        if opts["length_asked"]:
            raise UsageError(f"The prompt has {n} tokens and max_new_tokens/max_length asks for {total - n} more: "
                             f"{total} positions, past the model's context of {self.context}. Ask for at most "
                             f"{self.context - n} new tokens, or shorten the prompt.")
        return cfg.update(max_new_tokens=self.context - n)

    def split(self, inputs, opts):
        """A prompt, a chat (list of {"role", "content"} messages), or a list of either (as transformers)."""
        if opts["chat"] and not is_chat(inputs):
            texts = check_texts(inputs, "message")
            return [Chat([{"role": "user", "content": t}]) for t in texts], isinstance(inputs, str)
        if is_chat(inputs):
            return [Chat(check_chat(inputs))], True
        if isinstance(inputs, (list, tuple)) and inputs and all(is_chat(c) for c in inputs):
            return [Chat(check_chat(c)) for c in inputs], False
        return check_texts(inputs, "prompt"), isinstance(inputs, str)

    def _continues(self, chat: "Chat", opts) -> bool:
        cont = opts["continue_final_message"]
        return chat.messages[-1]["role"] == "assistant" if cont is None else bool(cont)

    def preprocess(self, batch, opts) -> Prepared:
        if isinstance(batch[0], Chat):
            settings = self.bundle.processing["tokenizer"]
            special = {k: v for k, v in settings.items() if k.endswith("_token") and isinstance(v, str)}
            cont = self._continues(batch[0], opts)
            text = [render_chat(self.bundle.processing.get("chat_template"), batch[0].messages,
                                add_generation_prompt=not cont, continue_final_message=cont, special_tokens=special)]
        else:
            text = batch
        enc = self.tokenizer.encode(text, add_special_tokens=False, truncation=False)
        ids = enc.arrays[INPUT_IDS]
        if ids.shape[1] >= self.context:
            raise UsageError(f"The prompt has {ids.shape[1]} tokens; the model's context is {self.context} positions "
                             "(prompt and new tokens together). Shorten the prompt.")
        return Prepared(batch, {ATTENTION_MASK: enc.arrays[ATTENTION_MASK]}, extra=ids)

    def postprocess(self, prepared, out, opts) -> list:
        (prompt,) = prepared.items
        prompt_len = len(self.decode(prepared.extra[0]))
        records: list[dict] = []
        for seq in out:
            new = self.decode(seq)[prompt_len:]
            if not opts["return_full_text"]:
                records.append({"generated_text": new})
            elif isinstance(prompt, Chat):
                msgs = list(prompt.messages)
                if self._continues(prompt, opts):  # the reply goes on the final message
                    full = msgs[:-1] + [{"role": msgs[-1]["role"], "content": msgs[-1]["content"] + new}]
                else:
                    full = msgs + [{"role": "assistant", "content": new}]
                records.append({"generated_text": full})
            else:
                records.append({"generated_text": prompt + new})
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
