"""fill-mask, answering like transformers' FillMaskPipeline (several masks, targets, top_k).

A text longer than the model's max length (where transformers' pipeline fails) is not truncated:
each mask is predicted in a window of the max length centred on it."""
from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..names import LOGITS
from ..postprocess.activations import softmax
from ..postprocess.windows import centered_window, window_feeds
from ..preprocess.text import TextTokenizer, check_texts
from .base import Pipeline, Prepared


class FillMaskPipeline(Pipeline):
    def setup(self) -> None:
        self.tokenizer = TextTokenizer(self.bundle.file("tokenizer.json"), self.bundle.processing["tokenizer"])
        self.mask_token = self.bundle.processing["tokenizer"].get("mask_token")
        self.mask_id = self.tokenizer.token_id(self.mask_token) if self.mask_token else None
        if self.mask_id is None:
            raise UsageError("This bundle's tokenizer defines no mask token; it cannot run fill-mask.")

    def target_ids(self, targets) -> np.ndarray:
        """Like transformers: a target not in the vocabulary becomes its first sub-token."""
        items = [targets] if isinstance(targets, str) else list(targets)
        vocab = self.tokenizer.tok.get_vocab()
        ids = []
        for t in items:
            if not isinstance(t, str):
                raise UsageError(f"targets must be words (str), got {type(t).__name__}: {t!r}.")
            i = vocab.get(t)
            if i is None:
                pieces = self.tokenizer.tok.encode(t, add_special_tokens=False).ids
                if not pieces:
                    continue
                i = pieces[0]
            ids.append(i)
        if not ids:
            raise UsageError(f"None of the targets {targets!r} maps to a token of the vocabulary; give real words.")
        return np.array(sorted(set(ids)))

    def mask_logits(self, enc, masked: np.ndarray) -> np.ndarray:
        """[masks, vocab] logits at the mask positions of one encoding."""
        tok = self.tokenizer
        if len(enc.ids) <= tok.max_length:
            return self.head.forward(tok.pad([enc]))[LOGITS][0, masked].astype(np.float32)
        windows = [centered_window(enc, tok.max_length, int(m)) for m in masked]
        out = []
        for w, m in zip(windows, masked):
            logits = self.head.forward(window_feeds(tok, enc, [w]))[LOGITS][0]
            out.append(logits[int(np.nonzero(w == m)[0][0])])
        return np.stack(out).astype(np.float32)

    def sanitize(self, top_k: int = 5, targets=None) -> dict:
        if not isinstance(top_k, int) or top_k < 1:
            raise UsageError(f"top_k must be a positive integer, got {top_k!r}.")
        target_ids = self.target_ids(targets) if targets is not None else None
        if target_ids is not None:
            top_k = min(top_k, len(target_ids))
        return {"top_k": top_k, "target_ids": target_ids}

    def split(self, inputs, opts):
        return check_texts(inputs), isinstance(inputs, str)

    def preprocess(self, batch, opts) -> Prepared:
        (text,) = batch
        enc = self.tokenizer.encode([text], truncation=False).encodings[0]
        ids = np.asarray(enc.ids, dtype=np.int64)
        masked = np.nonzero(ids == self.mask_id)[0]
        if masked.size == 0:
            raise UsageError(f"No mask token {self.mask_token} found in the input {text[:60]!r}; "
                             f"put {self.mask_token} where the word to predict goes.")
        return Prepared(batch, extra=(enc, ids, masked))

    def forward(self, prepared, opts) -> np.ndarray:
        enc, _, masked = prepared.extra
        return self.mask_logits(enc, masked)

    def postprocess(self, prepared, logits, opts) -> list:
        _, ids, masked = prepared.extra
        target_ids, top_k = opts["target_ids"], opts["top_k"]
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
        return [rows[0] if single else rows]
