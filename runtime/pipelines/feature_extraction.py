"""feature-extraction: token embeddings like transformers' FeatureExtractionPipeline, and sentence
embeddings with the pooling a sentence-transformers checkpoint declares (1_Pooling/config.json).

The graph returns last_hidden_state; pooling and normalisation run in NumPy, so one artifact serves
both outputs and every pooling mode."""
from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..preprocess.text import TextTokenizer, check_texts
from .base import Pipeline


def pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    m = mask[:, :, None].astype(np.float32)
    if mode == "mean":
        return (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
    if mode == "cls":
        return hidden[:, 0]
    if mode == "max":
        return np.where(m > 0, hidden, -1e9).max(1)
    if mode == "mean_sqrt_len":
        return (hidden * m).sum(1) / np.sqrt(np.clip(m.sum(1), 1e-9, None))
    raise UsageError(f"Unknown pooling '{mode}'. Use mean, cls, max or mean_sqrt_len.")


class FeatureExtractionPipeline(Pipeline):
    def setup(self) -> None:
        self.tokenizer = TextTokenizer(self.bundle.file("tokenizer.json"), self.bundle.processing["tokenizer"])
        self.sentence = self.bundle.processing.get("sentence", {})

    def hidden_states(self, texts: list[str], max_length: int | None = None, truncation: bool = True):
        enc = self.tokenizer.encode(texts, max_length=max_length, truncation=truncation)
        return self.run_graph("model", enc.arrays)["last_hidden_state"].astype(np.float32), enc.arrays["attention_mask"]

    def sentence_embeddings(self, texts, pooling: str | None = None, normalize: bool | None = None,
                            batch_size: int = 32) -> np.ndarray:
        """[n, dim] like SentenceTransformer.encode (the checkpoint's pooling, max length, Normalize)."""
        texts = check_texts(texts)
        mode = pooling or self.sentence.get("pooling", "mean")
        norm = self.sentence.get("normalize", False) if normalize is None else normalize
        out = []
        for i in range(0, len(texts), batch_size):
            hidden, mask = self.hidden_states(texts[i:i + batch_size], self.sentence.get("max_seq_length"))
            out.append(pool(hidden, mask, mode))
        emb = np.concatenate(out)
        if norm:
            emb = emb / np.clip(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12, None)
        return emb.astype(np.float32)

    def __call__(self, inputs, pooling: str | None = None, normalize: bool | None = None,
                 return_tensors: bool = False, truncation: bool = True):
        """Token embeddings ([1][tokens][hidden] per text, as transformers returns); with `pooling` or
        `normalize`, sentence embeddings (one vector per text) instead."""
        texts = check_texts(inputs)
        if pooling is not None or normalize is not None:
            emb = self.sentence_embeddings(texts, pooling, normalize)
            return (emb[0] if isinstance(inputs, str) else emb) if return_tensors else \
                (emb[0].tolist() if isinstance(inputs, str) else emb.tolist())
        results = []
        for text in texts:  # one at a time: no padding in the output, like the pipeline
            hidden, _ = self.hidden_states([text], truncation=truncation)
            results.append(hidden if return_tensors else hidden.tolist())
        return results[0] if isinstance(inputs, str) else results

    def format(self, result) -> str:
        try:
            arr = np.asarray(result, dtype=np.float32)
            return f"embedding shape {list(arr.shape)}; first values {np.round(arr.reshape(-1)[:8], 4).tolist()}"
        except ValueError:
            return f"{len(result)} embeddings of varying token counts"
