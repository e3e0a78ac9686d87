"""multiple-choice: a prompt and N choices -> one score per choice (transformers has no pipeline for
it; the logits are those of AutoModelForMultipleChoice, and `scores` their softmax)."""
from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..postprocess.activations import softmax
from ..preprocess.text import TextTokenizer, check_texts
from .base import Pipeline


class MultipleChoicePipeline(Pipeline):
    def setup(self) -> None:
        self.tokenizer = TextTokenizer(self.bundle.file("tokenizer.json"), self.bundle.processing["tokenizer"])

    def __call__(self, prompt: str, choices=None):
        prompt = check_texts(prompt, "prompt")[0]
        if isinstance(choices, str):
            choices = [c.strip() for c in choices.split(",") if c.strip()]
        if not choices or len(choices) < 2:
            raise UsageError("Give at least two choices, e.g. choices=['a cat', 'a dog'] (CLI: --choices 'a cat,a dog').")
        choices = check_texts(list(choices), "choice")
        enc = self.tokenizer.encode([prompt] * len(choices), choices)
        feeds = {k: v[None] for k, v in enc.arrays.items()}  # [1, choices, sequence]
        logits = self.run_graph("model", feeds)["logits"][0].astype(np.float32)
        probs = softmax(logits)
        return {"prompt": prompt, "choices": list(choices), "logits": logits.tolist(), "scores": probs.tolist(),
                "answer": choices[int(logits.argmax())]}

    def format(self, result) -> str:
        return "\n".join(f"{'*' if c == result['answer'] else ' '} {s:.4f}  {c}"
                         for c, s in zip(result["choices"], result["scores"]))
