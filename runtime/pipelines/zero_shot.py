"""zero-shot-classification (NLI), answering like transformers' ZeroShotClassificationPipeline.

Each candidate label becomes a hypothesis ("This example is {label}.") paired with the text; the
entailment (and contradiction) ids come from the model's label2id, recorded at export."""
from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..names import LOGITS
from ..postprocess.windows import batches
from ..preprocess.text import TextTokenizer, check_texts
from .base import Pipeline, Prepared


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

    def __call__(self, sequences, candidate_labels=None, **options):
        return super().__call__(sequences, candidate_labels=candidate_labels, **options)

    def sanitize(self, candidate_labels=None, hypothesis_template: str = "This example is {}.",
                 multi_label: bool = False, batch_size: int = 16) -> dict:
        labels = parse_labels(candidate_labels)
        if not isinstance(hypothesis_template, str) or hypothesis_template.format(labels[0]) == hypothesis_template:
            raise UsageError(f"hypothesis_template {hypothesis_template!r} has no '{{}}' where the label should go, "
                             "e.g. 'This example is {}.'.")
        return {"labels": labels, "hypotheses": [hypothesis_template.format(lab) for lab in labels],
                "multi_label": multi_label, "batch_size": batch_size}

    def split(self, inputs, opts):
        return check_texts(inputs), isinstance(inputs, str)

    def preprocess(self, batch, opts) -> Prepared:
        (text,), hyps = batch, opts["hypotheses"]
        try:
            enc = self.tokenizer.encode([text] * len(hyps), hyps, truncation="only_first")
        except Exception as e:  # a hypothesis alone does not fit the model
            raise UsageError(f"A hypothesis is too long for the model's {self.tokenizer.max_length} tokens ({e}); "
                             "use shorter labels or a shorter hypothesis_template.") from None
        return Prepared(batch, extra=enc.encodings)

    def forward(self, prepared, opts) -> np.ndarray:
        """[labels, classes] logits; hypotheses of similar length go through the model together."""
        encodings, logits = prepared.extra, None
        for group in batches([len(e.ids) for e in encodings], opts["batch_size"], self.tokenizer.padding_side):
            out = self.head.forward(self.tokenizer.pad([encodings[j] for j in group]))[LOGITS]
            if logits is None:
                logits = np.empty((len(encodings), out.shape[-1]), dtype=np.float32)
            logits[group] = out
        assert logits is not None, "sanitize checked there is at least one candidate label"
        return logits

    def postprocess(self, prepared, logits, opts) -> list:
        (text,), labels = prepared.items, opts["labels"]
        logits = logits[None]  # [1, labels, classes]
        if opts["multi_label"] or len(labels) == 1:
            pair = logits[..., [self.contradiction_id, self.entailment_id]]
            scores = (np.exp(pair) / np.exp(pair).sum(-1, keepdims=True))[..., 1]
        else:
            entail = logits[..., self.entailment_id]
            scores = np.exp(entail) / np.exp(entail).sum(-1, keepdims=True)
        top = list(reversed(scores[0].argsort()))
        return [{"sequence": text, "labels": [labels[i] for i in top], "scores": scores[0, top].tolist()}]
