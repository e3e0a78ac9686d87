"""multiple-choice: a prompt and N choices -> one score per choice. transformers has no pipeline for
it; the logits are those of AutoModelForMultipleChoice on inputs [1, choices, sequence] built from
tokenizer([prompt] * N, choices, padding=True, truncation=True), and `scores` are their softmax."""
from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..names import LOGITS
from ..postprocess.activations import softmax
from ..preprocess.text import TextTokenizer, check_texts
from .base import Pipeline, Prepared


class MultipleChoicePipeline(Pipeline):
    def setup(self) -> None:
        self.tokenizer = TextTokenizer(self.bundle.file("tokenizer.json"), self.bundle.processing["tokenizer"])

    def __call__(self, prompt, choices=None):
        return super().__call__(prompt, choices=choices)

    def sanitize(self, choices=None) -> dict:
        return {"choices": choices}

    def split(self, prompt, opts):
        if not isinstance(prompt, str):
            raise UsageError(f"multiple-choice takes one prompt (str) and its choices, got {type(prompt).__name__}.")
        prompt = check_texts(prompt, "prompt")[0]
        choices = opts["choices"]
        if isinstance(choices, str):
            choices = [c.strip() for c in choices.split(",") if c.strip()]
        if not isinstance(choices, (list, tuple)) or len(choices) < 2:
            raise UsageError("Give at least two choices, e.g. choices=['a cat', 'a dog'] (CLI: --choices 'a cat,a dog'); "
                             f"got {choices!r}.")
        return [(prompt, check_texts(list(choices), "choice"))], True

    def preprocess(self, batch, opts) -> Prepared:
        ((prompt, choices),) = batch
        enc = self.tokenizer.encode([prompt] * len(choices), choices)
        return Prepared(batch, {k: v[None] for k, v in enc.arrays.items()})  # [1, choices, sequence]

    def postprocess(self, prepared, outputs, opts) -> list:
        ((prompt, choices),) = prepared.items
        logits = outputs[LOGITS][0].astype(np.float32)
        return [{"prompt": prompt, "choices": list(choices), "logits": logits.tolist(), "scores": softmax(logits).tolist(),
                 "answer": choices[int(logits.argmax())]}]
