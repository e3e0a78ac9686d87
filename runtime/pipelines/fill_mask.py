"""fill-mask, answering like transformers' FillMaskPipeline (several masks, targets, top_k)."""
from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..postprocess.activations import softmax
from ..preprocess.text import TextTokenizer, check_texts
from .base import Pipeline


class FillMaskPipeline(Pipeline):
    def setup(self) -> None:
        self.tokenizer = TextTokenizer(self.bundle.file("tokenizer.json"), self.bundle.processing["tokenizer"])
        self.mask_token = self.bundle.processing["tokenizer"].get("mask_token")
        self.mask_id = self.tokenizer.token_id(self.mask_token) if self.mask_token else None
        if self.mask_id is None:
            raise UsageError("This bundle's tokenizer defines no mask token; it cannot run fill-mask.")

    def target_ids(self, targets) -> np.ndarray:
        vocab = self.tokenizer.tok.get_vocab()
        ids = []
        for t in [targets] if isinstance(targets, str) else targets:
            i = vocab.get(t)
            if i is None:  # like transformers: the first sub-token of the word
                pieces = self.tokenizer.tok.encode(t, add_special_tokens=False).ids
                if not pieces:
                    continue
                i = pieces[0]
            ids.append(i)
        if not ids:
            raise UsageError(f"None of the targets {targets!r} maps to a token of the vocabulary.")
        return np.array(sorted(set(ids)))

    def __call__(self, inputs, top_k: int = 5, targets=None):
        texts = check_texts(inputs)
        target_ids = self.target_ids(targets) if targets is not None else None
        if target_ids is not None:
            top_k = min(top_k, len(target_ids))
        results = []
        for text in texts:
            enc = self.tokenizer.encode([text])
            ids = enc.arrays["input_ids"][0]
            masked = np.nonzero(ids == self.mask_id)[0]
            if masked.size == 0:
                raise UsageError(f"No mask token {self.mask_token} found in the input {text[:60]!r}; "
                                 f"put {self.mask_token} where the word to predict goes.")
            logits = self.run_graph("model", enc.arrays)["logits"][0, masked].astype(np.float32)
            probs = softmax(logits)
            if target_ids is not None:
                probs = probs[:, target_ids]
            single = masked.size == 1
            rows = []
            for i in range(masked.size):
                order = np.argsort(-probs[i], kind="stable")[:top_k]
                row = []
                for j in order:
                    p = int(target_ids[j]) if target_ids is not None else int(j)
                    tokens = ids.copy()
                    tokens[masked[i]] = p
                    tokens = tokens[tokens != self.tokenizer.pad_id]
                    row.append({"score": float(probs[i, j]), "token": p, "token_str": self.tokenizer.decode([p], False),
                                "sequence": self.tokenizer.decode(tokens, skip_special_tokens=single)})
                rows.append(row)
            results.append(rows[0] if single else rows)
        return results[0] if isinstance(inputs, str) else results

    def format(self, result) -> str:
        rows = result if result and isinstance(result[0], list) else [result]
        return "\n".join(f"{r['score']:.4f}  {r['token_str']:<14} {r['sequence']}" for row in rows for r in row)
