"""zero-shot-classification (NLI), answering like transformers' ZeroShotClassificationPipeline.

Each candidate label becomes a hypothesis ("This example is {label}.") paired with the text; the
entailment (and contradiction) ids come from the model's label2id, recorded at export."""
from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..postprocess.windows import batches
from ..preprocess.text import TextTokenizer, check_texts
from .base import Pipeline


def parse_labels(labels) -> list[str]:
    """A list of labels, or one comma-separated string (transformers' rule)."""
    if isinstance(labels, str):
        labels = [lab.strip() for lab in labels.split(",") if lab.strip()]
    if not isinstance(labels, (list, tuple)) or not labels:
        raise UsageError("Give at least one candidate label, e.g. candidate_labels=['sports', 'politics'] "
                         f"(CLI: --labels sports,politics); got {labels!r}.")
    for lab in labels:
        if not isinstance(lab, str) or not lab.strip():
            raise UsageError(f"Each candidate label must be a non-empty str, got {lab!r}.")
    return list(labels)


class ZeroShotClassificationPipeline(Pipeline):
    def setup(self) -> None:
        self.tokenizer = TextTokenizer(self.bundle.file("tokenizer.json"), self.bundle.processing["tokenizer"])
        nli = self.bundle.processing.get("nli")
        if nli:
            self.entailment_id, self.contradiction_id = int(nli["entailment_id"]), int(nli["contradiction_id"])
        else:  # bundles without the recorded ids: the same rule on id2label
            self.entailment_id = next((i for i, lab in sorted(self.bundle.id2label.items())
                                       if lab.lower().startswith("entail")), -1)
            self.contradiction_id = -1 if self.entailment_id == 0 else 0

    def __call__(self, sequences, candidate_labels=None, hypothesis_template: str = "This example is {}.",
                 multi_label: bool = False, batch_size: int = 16):
        texts = check_texts(sequences)
        labels = parse_labels(candidate_labels)
        if not isinstance(hypothesis_template, str) or hypothesis_template.format(labels[0]) == hypothesis_template:
            raise UsageError(f"hypothesis_template {hypothesis_template!r} has no '{{}}' where the label should go, "
                             "e.g. 'This example is {}.'.")
        hyps = [hypothesis_template.format(lab) for lab in labels]
        results = []
        for text in texts:
            try:
                enc = self.tokenizer.encode([text] * len(hyps), hyps, truncation="only_first")
            except Exception as e:  # a hypothesis alone does not fit the model
                raise UsageError(f"A hypothesis is too long for the model's {self.tokenizer.max_length} tokens ({e}); "
                                 "use shorter labels or a shorter hypothesis_template.") from None
            logits = None
            for group in batches([len(e.ids) for e in enc.encodings], batch_size, self.tokenizer.padding_side):
                out = self.run_graph("model", self.tokenizer.pad([enc.encodings[j] for j in group]))["logits"]
                if logits is None:
                    logits = np.empty((len(hyps), out.shape[-1]), dtype=np.float32)
                logits[group] = out
            logits = logits[None]  # [1, labels, classes]
            if multi_label or len(labels) == 1:
                pair = logits[..., [self.contradiction_id, self.entailment_id]]
                scores = (np.exp(pair) / np.exp(pair).sum(-1, keepdims=True))[..., 1]
            else:
                entail = logits[..., self.entailment_id]
                scores = np.exp(entail) / np.exp(entail).sum(-1, keepdims=True)
            top = list(reversed(scores[0].argsort()))
            results.append({"sequence": text, "labels": [labels[i] for i in top], "scores": scores[0, top].tolist()})
        return results[0] if isinstance(sequences, str) else results

    def format(self, result) -> str:
        rows = result if isinstance(result, list) else [result]
        blocks = []
        for r in rows:
            head = r["sequence"] if len(r["sequence"]) <= 80 else r["sequence"][:77] + "..."
            width = max(len(lab) for lab in r["labels"]) + 2
            blocks.append("\n".join([head] + [f"  {lab:<{width}} {s:.4f}" for lab, s in zip(r["labels"], r["scores"])]))
        return "\n\n".join(blocks)
