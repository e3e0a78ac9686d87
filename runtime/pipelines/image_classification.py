"""image-classification, answering like transformers' ImageClassificationPipeline."""
from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..postprocess.activations import ACTIVATIONS
from ..preprocess.image import as_image_list, image_processor
from .base import Pipeline
from .text_classification import default_function


class ImageClassificationPipeline(Pipeline):
    def setup(self) -> None:
        self.processor = image_processor(self.bundle.processing["image"])
        self.id2label = self.bundle.id2label

    def __call__(self, inputs, top_k: int = 5, function_to_apply: str | None = None):
        images, single = as_image_list(inputs)
        if not isinstance(top_k, int) or top_k < 1:
            raise UsageError(f"top_k must be a positive integer, got {top_k!r}.")
        fn = (function_to_apply or default_function(self.bundle.processing, len(self.id2label))).lower()
        if fn not in ACTIVATIONS:
            raise UsageError(f"function_to_apply must be one of {sorted(ACTIVATIONS)}, got '{function_to_apply}'.")
        results = []
        for img in images:  # one at a time, like the transformers pipeline (sizes may differ)
            logits = self.run_graph("model", self.processor([img]))["logits"][0].astype(np.float32)
            scores = ACTIVATIONS[fn](logits)
            ranked = sorted(({"label": self.id2label[i], "score": float(s)} for i, s in enumerate(scores)),
                            key=lambda d: d["score"], reverse=True)
            results.append(ranked[:min(top_k, len(ranked))])
        return results[0] if single else results

    def format(self, result) -> str:
        rows = result if result and isinstance(result[0], list) else [result]
        return "\n\n".join("\n".join(f"{r['label']:<24} {r['score']:.4f}" for r in row) for row in rows)
