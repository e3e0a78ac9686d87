"""feature-extraction: token embeddings like transformers' FeatureExtractionPipeline, and sentence
embeddings like SentenceTransformer.encode with the pooling the checkpoint declares (recorded at export
in processing.sentence: pooling, normalize, max_seq_length, lowercase).

The graph returns last_hidden_state; pooling and normalisation run in NumPy, so one artifact serves
token embeddings and every pooling mode. A text longer than the model's max length gets token
embeddings from overlapping windows (transformers' pipeline fails on it); sentence embeddings truncate
to max_seq_length, exactly as sentence-transformers does."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UsageError
from ..names import ATTENTION_MASK, LAST_HIDDEN_STATE
from ..postprocess.windows import batches, sliding_windows, stitch, unpad, window_feeds
from ..preprocess.text import TextTokenizer, check_texts
from .base import Pipeline, Prepared, chunks

# sentence-transformers' names, in the order it concatenates several modes
POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
_ALIASES = {"mean_sqrt_len": "mean_sqrt_len_tokens", "cls_token": "cls", "last": "lasttoken"}


def pooling_modes(pooling) -> list[str]:
    """'mean', 'cls,max' or ['cls', 'max'] -> validated mode names."""
    items = pooling.split(",") if isinstance(pooling, str) else list(pooling)
    modes = [_ALIASES.get(str(m).strip().lower(), str(m).strip().lower()) for m in items]
    bad = [m for m in modes if m not in POOLING_MODES]
    if bad or not modes:
        raise UsageError(f"Unknown pooling {pooling!r}. Use one of {', '.join(POOLING_MODES)} "
                         "(several, comma-separated, are concatenated like sentence-transformers does).")
    return modes


def pool(hidden: np.ndarray, mask: np.ndarray, pooling) -> np.ndarray:
    """[batch, tokens, dim] + attention mask -> [batch, dim * modes], as sentence-transformers' Pooling."""
    m = mask[:, :, None].astype(hidden.dtype)
    rows = np.arange(hidden.shape[0])
    out = []
    for mode in pooling_modes(pooling):
        if mode == "cls":  # the first attended token (index 0 unless the batch is left-padded)
            out.append(hidden[rows, mask.argmax(1)])
        elif mode == "max":
            out.append(np.where(m > 0, hidden, -np.inf).max(1))
        elif mode in ("mean", "mean_sqrt_len_tokens"):
            count = np.clip(m.sum(1), 1e-9, None)
            out.append((hidden * m).sum(1) / (count if mode == "mean" else np.sqrt(count)))
        elif mode == "weightedmean":
            w = m * np.arange(1, hidden.shape[1] + 1, dtype=hidden.dtype)[None, :, None]
            out.append((hidden * w).sum(1) / np.clip(w.sum(1), 1e-9, None))
        else:  # lasttoken: the last attended token
            last = hidden.shape[1] - 1 - mask[:, ::-1].argmax(1)
            out.append((hidden * m)[rows, last])
    return np.concatenate(out, axis=-1)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    return x / np.clip(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12, None)


class FeatureExtractionPipeline(Pipeline):
    def setup(self) -> None:
        cfg = self.bundle.processing["tokenizer"]
        self.tokenizer = TextTokenizer(self.bundle.file("tokenizer.json"), cfg)
        self.sentence = self.bundle.processing.get("sentence") or {}
        self.sentence_tokenizer = self.tokenizer
        if self.sentence.get("lowercase"):
            from tokenizers import normalizers

            # what sentence-transformers does for do_lower_case: a Lowercase normalizer in front
            self.sentence_tokenizer = TextTokenizer(self.bundle.file("tokenizer.json"), cfg)
            tok = self.sentence_tokenizer.tok
            tok.normalizer = normalizers.Sequence([normalizers.Lowercase(), *([tok.normalizer] if tok.normalizer else [])])

    def __call__(self, inputs: Any, **options: Any) -> Any:
        if not options and isinstance(inputs, str) and inputs.strip():
            # the default call on one text, pipe("..."): what the template's steps below give for it
            # (token embeddings [1][tokens][hidden]), without building the options, batches and results
            return self.token_embeddings(inputs).tolist()
        return super().__call__(inputs, **options)

    def _hidden(self, feeds: dict) -> np.ndarray:
        return self.head.forward(feeds)[LAST_HIDDEN_STATE].astype(np.float32, copy=False)

    def sentence_embeddings(self, texts, pooling=None, normalize: bool | None = None,
                            batch_size: int = 32) -> np.ndarray:
        """[n, dim] like SentenceTransformer(checkpoint).encode(texts)."""
        texts = check_texts(texts)
        modes = pooling_modes(pooling if pooling is not None else self.sentence.get("pooling", "mean"))
        norm = bool(self.sentence.get("normalize", False)) if normalize is None else bool(normalize)
        if batch_size < 1:
            raise UsageError(f"batch_size must be >= 1, got {batch_size}.")
        out = []
        for i in range(0, len(texts), batch_size):
            enc = self.sentence_tokenizer.encode(texts[i:i + batch_size], max_length=self.sentence.get("max_seq_length"))
            out.append(pool(self._hidden(enc.arrays), enc.arrays[ATTENTION_MASK], modes))
        emb = np.concatenate(out)
        return (l2_normalize(emb) if norm else emb).astype(np.float32)

    def token_embeddings(self, text: str, truncation: bool | None = None, stride: int | None = None,
                         batch_size: int = 8) -> np.ndarray:
        """[1, tokens, dim] for one text, like the transformers pipeline; windows beyond the max length
        unless truncation=True (then cut like transformers' truncation=True)."""
        tok = self.tokenizer
        if truncation:
            return self._hidden(tok.encode([text]).arrays)
        arrays, enc = tok.encode_one(text)
        if len(enc) <= tok.max_length:
            return self._hidden(arrays)
        windows = sliding_windows(enc, tok.max_length, tok.max_length // 4 if stride is None else stride)
        outs: list = [None] * len(windows)
        for group in batches([len(w) for w in windows], batch_size, tok.padding_side):
            hidden = self._hidden(window_feeds(tok, enc, [windows[j] for j in group]))
            for j, h in zip(group, hidden):
                outs[j] = unpad(h, len(windows[j]), tok.padding_side)
        return stitch(enc, windows, outs)[None]

    def sanitize(self, pooling=None, normalize: bool | None = None, return_tensors: bool = False,
                 truncation: bool | None = None, stride: int | None = None, batch_size: int = 32) -> dict:
        """Token embeddings ([1][tokens][hidden] per text, as transformers returns); with `pooling` or
        `normalize`, sentence embeddings (one vector per text, like sentence-transformers) instead."""
        opts: dict[str, Any] = {"sentence": pooling is not None or normalize is not None, "return_tensors": return_tensors,
                "truncation": truncation, "stride": stride, "batch_size": batch_size}
        if opts["sentence"]:
            opts["modes"] = pooling_modes(pooling if pooling is not None else self.sentence.get("pooling", "mean"))
            opts["normalize"] = bool(self.sentence.get("normalize", False)) if normalize is None else bool(normalize)
            if batch_size < 1:
                raise UsageError(f"batch_size must be >= 1, got {batch_size}.")
        return opts

    def split(self, inputs, opts):
        return check_texts(inputs), isinstance(inputs, str)

    def batches(self, items, opts):
        # sentence embeddings: batch_size texts per engine call; token embeddings: one text at a time,
        # so no padding shows in the output (like the pipeline)
        return chunks(items, opts["batch_size"]) if opts["sentence"] else super().batches(items, opts)

    def preprocess(self, batch, opts) -> Prepared:
        if opts["sentence"]:
            enc = self.sentence_tokenizer.encode(batch, max_length=self.sentence.get("max_seq_length"))
            return Prepared(batch, enc.arrays)
        return Prepared(batch)

    def forward(self, prepared, opts) -> np.ndarray:
        if opts["sentence"]:
            return self._hidden(prepared.feeds)
        (text,) = prepared.items
        return self.token_embeddings(text, opts["truncation"], opts["stride"])  # windows beyond the max length

    def postprocess(self, prepared, hidden, opts) -> list:
        if not opts["sentence"]:
            return [hidden if opts["return_tensors"] else hidden.tolist()]
        emb = pool(hidden, prepared.feeds[ATTENTION_MASK], opts["modes"])
        return list((l2_normalize(emb) if opts["normalize"] else emb).astype(np.float32))

    def unwrap(self, results, single, opts):
        if not opts["sentence"]:
            return results[0] if single else results
        emb = np.stack(results)
        emb = emb[0] if single else emb
        return emb if opts["return_tensors"] else emb.tolist()
