"""image-classification, answering like transformers' ImageClassificationPipeline."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UsageError
from ..names import LOGITS
from ..postprocess.activations import ACTIVATIONS
from ..preprocess.image import as_image_list
from .base import Pipeline, Prepared
from .text_classification import default_function

if TYPE_CHECKING:
    from ..heads.image import ImageHead


class ImageClassificationPipeline(Pipeline):
    """One image at a time, like the transformers pipeline (sizes may differ)."""

    head: ImageHead

    def setup(self) -> None:
        self.id2label = self.bundle.id2label

    def sanitize(self, top_k: int = 5, function_to_apply: str | None = None) -> dict:
        if not isinstance(top_k, int) or top_k < 1:
            raise UsageError(f"top_k must be a positive integer, got {top_k!r}.")
        fn = (function_to_apply or default_function(self.bundle.processing, len(self.id2label))).lower()
        if fn not in ACTIVATIONS:
            raise UsageError(f"function_to_apply must be one of {sorted(ACTIVATIONS)}, got '{function_to_apply}'.")
        return {"top_k": top_k, "function": ACTIVATIONS[fn]}

    def split(self, inputs, opts):
        return as_image_list(inputs)

    def preprocess(self, batch, opts) -> Prepared:
        return self.head.preprocess(batch)

    def postprocess(self, prepared, outputs, opts) -> list:
        scores = opts["function"](outputs[LOGITS][0].astype(np.float32))
        labelled: list[dict[str, Any]] = [{"label": self.id2label[i], "score": float(s)} for i, s in enumerate(scores)]
        ranked = sorted(labelled, key=lambda d: d["score"], reverse=True)
        return [ranked[:min(opts["top_k"], len(ranked))]]
