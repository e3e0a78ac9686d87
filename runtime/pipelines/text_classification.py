"""text-classification, answering exactly like transformers' TextClassificationPipeline."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UsageError
from ..names import LOGITS
from ..postprocess.activations import ACTIVATIONS
from ..preprocess.text import TextTokenizer, check_texts
from .base import Pipeline, Prepared, chunks

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

    def sanitize(self, top_k: Any = _UNSET, function_to_apply: str | None = None, text_pair: str | None = None,
                 batch_size: int = 8) -> dict:
        legacy = top_k is _UNSET
        if legacy:
            top_k = 1
        elif top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise UsageError(f"top_k must be a positive integer or None, got {top_k!r}.")
        fn_name = (function_to_apply or default_function(self.bundle.processing, len(self.id2label))).lower()
        if fn_name not in ACTIVATIONS:
            raise UsageError(f"function_to_apply must be one of {sorted(ACTIVATIONS)}, got '{function_to_apply}'.")
        return {"top_k": top_k, "legacy": legacy, "function": ACTIVATIONS[fn_name], "text_pair": text_pair,
                "batch_size": batch_size}

    def split(self, inputs, opts):
        texts, pairs, single = split_text_inputs(inputs, opts["text_pair"])
        # the transformers pipeline returns [dict] for one str without top_k, a dict for one pair dict
        opts["list_for_single"] = single and not isinstance(inputs, dict) and opts["legacy"]
        return list(zip(texts, pairs or [None] * len(texts))), single

    def batches(self, items, opts):
        return chunks(items, opts["batch_size"])

    def preprocess(self, batch, opts) -> Prepared:
        texts, pairs = [t for t, _ in batch], [p for _, p in batch]
        return Prepared(batch, self.tokenizer.encode(texts, pairs if pairs[0] is not None else None).arrays)

    def postprocess(self, prepared, outputs, opts) -> list:
        scores = opts["function"](outputs[LOGITS].astype(np.float32))
        return [self._ranked(row, opts["top_k"], opts["legacy"]) for row in scores]

    def logits(self, texts: list[str], pairs: list[str] | None = None, batch_size: int = 8) -> np.ndarray:
        out = []
        for i in range(0, len(texts), batch_size):
            enc = self.tokenizer.encode(texts[i:i + batch_size], pairs[i:i + batch_size] if pairs else None)
            out.append(self.head.forward(enc.arrays)[LOGITS])
        return np.concatenate(out).astype(np.float32)

    def unwrap(self, results, single, opts):
        if opts["list_for_single"]:
            return results
        return results[0] if single else results

    def _ranked(self, scores: np.ndarray, top_k, legacy: bool):
        if legacy and top_k == 1:
            return {"label": self.id2label[int(scores.argmax())], "score": float(scores.max())}
        ranked: list[dict[str, Any]] = [{"label": self.id2label[i], "score": float(s)} for i, s in enumerate(scores)]
        if not legacy:
            ranked.sort(key=lambda d: d["score"], reverse=True)
            if top_k is not None:
                ranked = ranked[:top_k]
        return ranked
