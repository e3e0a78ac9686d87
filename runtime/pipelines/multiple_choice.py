"""multiple-choice: a prompt and N choices -> one score per choice. transformers has no pipeline for
it; the logits are those of AutoModelForMultipleChoice on inputs [1, choices, sequence] built from
tokenizer([prompt] * N, choices, padding=True, truncation=True), and `scores` are their softmax."""
from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..postprocess.activations import softmax
from ..preprocess.text import TextTokenizer, check_texts
from .base import Pipeline


class MultipleChoicePipeline(Pipeline):
    def setup(self) -> None:
        self.tokenizer = TextTokenizer(self.bundle.file("tokenizer.json"), self.bundle.processing["tokenizer"])

    def __call__(self, prompt, choices=None):
        if not isinstance(prompt, str):
            raise UsageError(f"multiple-choice takes one prompt (str) and its choices, got {type(prompt).__name__}.")
        prompt = check_texts(prompt, "prompt")[0]
        if isinstance(choices, str):
            choices = [c.strip() for c in choices.split(",") if c.strip()]
        if not isinstance(choices, (list, tuple)) or len(choices) < 2:
            raise UsageError("Give at least two choices, e.g. choices=['a cat', 'a dog'] (CLI: --choices 'a cat,a dog'); "
                             f"got {choices!r}.")
        choices = check_texts(list(choices), "choice")
        enc = self.tokenizer.encode([prompt] * len(choices), choices)
        feeds = {k: v[None] for k, v in enc.arrays.items()}  # [1, choices, sequence]
        logits = self.run_graph("model", feeds)["logits"][0].astype(np.float32)
        probs = softmax(logits)
        return {"prompt": prompt, "choices": list(choices), "logits": logits.tolist(), "scores": probs.tolist(),
                "answer": choices[int(logits.argmax())]}

    def format(self, result) -> str:
        lines = [result["prompt"] if len(result["prompt"]) <= 80 else result["prompt"][:77] + "...",
                 f"     {'score':>7}  {'logit':>8}  choice"]
        for c, s, lg in zip(result["choices"], result["scores"], result["logits"]):
            lines.append(f"  {'*' if c == result['answer'] else ' '}  {s:7.4f}  {lg:8.4f}  {c}")
        return "\n".join(lines)
