"""text-classification, answering exactly like transformers' TextClassificationPipeline."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UsageError
from ..postprocess.activations import ACTIVATIONS
from ..preprocess.text import TextTokenizer, check_texts
from .base import Pipeline

_UNSET = object()


def default_function(processing: dict, num_labels: int) -> str:
    """The pipeline's rule: regression → none; multi-label or one label → sigmoid; else softmax."""
    problem = processing.get("problem_type")
    if problem == "regression":
        return "none"
    if problem == "multi_label_classification" or num_labels == 1:
        return "sigmoid"
    return "softmax"


def split_text_inputs(inputs, text_pair=None) -> tuple[list[str], list[str] | None, bool]:
    """(texts, pairs or None, was_single) from a str, a {"text", "text_pair"} dict, or a list of either."""
    single = isinstance(inputs, (str, dict))
    items = [inputs] if single else inputs
    if not isinstance(items, (list, tuple)) or not items:
        got = "an empty list" if isinstance(items, (list, tuple)) else type(inputs).__name__
        raise UsageError(f"Expected a text, a {{'text', 'text_pair'}} dict or a non-empty list of them; got {got}.")
    if all(isinstance(i, dict) for i in items):
        for i in items:
            if "text" not in i:
                raise UsageError(f"A text-pair dict needs a 'text' key (and optionally 'text_pair'); got keys {sorted(i)}.")
        texts = check_texts([i["text"] for i in items])
        pairs = [i.get("text_pair") for i in items]
        if any(p is not None for p in pairs):
            return texts, check_texts([p or "" for p in pairs], "text_pair"), single
        return texts, None, single
    texts = check_texts(list(items))
    if text_pair is not None:
        return texts, check_texts([text_pair] * len(texts), "text_pair"), single
    return texts, None, single


class TextClassificationPipeline(Pipeline):
    def setup(self) -> None:
        self.tokenizer = TextTokenizer(self.bundle.file("tokenizer.json"), self.bundle.processing["tokenizer"])
        self.id2label = self.bundle.id2label

    def logits(self, texts: list[str], pairs: list[str] | None = None, batch_size: int = 8) -> np.ndarray:
        out = []
        for i in range(0, len(texts), batch_size):
            enc = self.tokenizer.encode(texts[i:i + batch_size], pairs[i:i + batch_size] if pairs else None)
            out.append(self.run_graph("model", enc.arrays)["logits"])
        return np.concatenate(out).astype(np.float32)

    def __call__(self, inputs, top_k: Any = _UNSET, function_to_apply: str | None = None,
                 text_pair: str | None = None, batch_size: int = 8):
        texts, pairs, single = split_text_inputs(inputs, text_pair)
        legacy = top_k is _UNSET
        if legacy:
            top_k = 1
        elif top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise UsageError(f"top_k must be a positive integer or None, got {top_k!r}.")
        fn_name = (function_to_apply or default_function(self.bundle.processing, len(self.id2label))).lower()
        if fn_name not in ACTIVATIONS:
            raise UsageError(f"function_to_apply must be one of {sorted(ACTIVATIONS)}, got '{function_to_apply}'.")
        scores = ACTIVATIONS[fn_name](self.logits(texts, pairs, batch_size))
        results = [self._postprocess(row, top_k, legacy) for row in scores]
        if single and not isinstance(inputs, dict) and legacy:
            return results  # the transformers pipeline returns [dict] for one str without top_k
        return results[0] if single else results

    def _postprocess(self, scores: np.ndarray, top_k, legacy: bool):
        if legacy and top_k == 1:
            return {"label": self.id2label[int(scores.argmax())], "score": float(scores.max())}
        ranked = [{"label": self.id2label[i], "score": float(s)} for i, s in enumerate(scores)]
        if not legacy:
            ranked.sort(key=lambda d: d["score"], reverse=True)
            if top_k is not None:
                ranked = ranked[:top_k]
        return ranked

    def format(self, result) -> str:
        rows = result if isinstance(result, list) else [result]
        flat = [r for row in rows for r in (row if isinstance(row, list) else [row])]
        return "\n".join(f"{r['label']:<24} {r['score']:.4f}" for r in flat)
