"""zero-shot-classification (NLI), answering like transformers' ZeroShotClassificationPipeline.
The entailment / contradiction ids come from the model's label2id."""
from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..preprocess.text import TextTokenizer, check_texts
from .base import Pipeline


class ZeroShotClassificationPipeline(Pipeline):
    def setup(self) -> None:
        self.tokenizer = TextTokenizer(self.bundle.file("tokenizer.json"), self.bundle.processing["tokenizer"])
        self.entailment_id = next((i for i, lab in sorted(self.bundle.id2label.items())
                                   if lab.lower().startswith("entail")), -1)

    def __call__(self, sequences, candidate_labels=None, hypothesis_template: str = "This example is {}.",
                 multi_label: bool = False):
        texts = check_texts(sequences)
        labels = candidate_labels
        if isinstance(labels, str):
            labels = [lab.strip() for lab in labels.split(",") if lab.strip()]
        if not labels:
            raise UsageError("Give at least one candidate label, e.g. candidate_labels=['sports', 'politics'] "
                             "(CLI: --labels sports,politics).")
        if hypothesis_template.format(labels[0]) == hypothesis_template:
            raise UsageError(f"hypothesis_template {hypothesis_template!r} has no '{{}}' where the label should go.")
        hyps = [hypothesis_template.format(lab) for lab in labels]
        results = []
        for text in texts:
            enc = self.tokenizer.encode([text] * len(hyps), hyps, truncation="only_first")
            logits = self.run_graph("model", enc.arrays)["logits"].astype(np.float32)[None]  # [1, labels, classes]
            if multi_label or len(labels) == 1:
                contradiction_id = -1 if self.entailment_id == 0 else 0
                pair = logits[..., [contradiction_id, self.entailment_id]]
                scores = (np.exp(pair) / np.exp(pair).sum(-1, keepdims=True))[..., 1]
            else:
                entail = logits[..., self.entailment_id]
                scores = np.exp(entail) / np.exp(entail).sum(-1, keepdims=True)
            top = list(reversed(scores[0].argsort()))
            results.append({"sequence": text, "labels": [labels[i] for i in top], "scores": scores[0, top].tolist()})
        return results[0] if isinstance(sequences, str) else results

    def format(self, result) -> str:
        rows = result if isinstance(result, list) else [result]
        return "\n\n".join("\n".join(f"{lab:<24} {s:.4f}" for lab, s in zip(r["labels"], r["scores"])) for r in rows)
