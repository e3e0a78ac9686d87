"""Extractive-QA span scoring, exactly as transformers' question-answering pipeline computes it."""
from __future__ import annotations

import numpy as np


def span_probabilities(start_logits: np.ndarray, end_logits: np.ndarray, p_mask: np.ndarray,
                       attention_mask: np.ndarray):
    """([1, n] start probs, [1, n] end probs, [1, n] desired mask, null score) of one window.

    Tokens that cannot be in the answer (p_mask 1, padding) get logit -10000 before the softmax; the
    null (impossible) score is p(start=0) * p(end=0), then position 0 ([CLS]) is zeroed."""
    desired = (np.abs(p_mask.astype(np.int64) - 1) & attention_mask.astype(np.int64))[None]
    bad = desired == 0
    start = np.where(bad, np.float32(-10000.0), start_logits)
    end = np.where(bad, np.float32(-10000.0), end_logits)
    start = np.exp(start - start.max(axis=-1, keepdims=True))
    start = start / start.sum()
    end = np.exp(end - end.max(axis=-1, keepdims=True))
    end = end / end.sum()
    null = float(start[0, 0] * end[0, 0])
    start[0, 0] = end[0, 0] = 0.0
    return start, end, desired, null


def decode_spans(start: np.ndarray, end: np.ndarray, topk: int, max_answer_len: int, desired: np.ndarray):
    """Best (start, end) token pairs by p(start) * p(end), end >= start, at most max_answer_len tokens."""
    outer = np.matmul(np.expand_dims(start, -1), np.expand_dims(end, 1))
    candidates = np.tril(np.triu(outer), max_answer_len - 1)
    flat = candidates.flatten()
    if topk == 1:
        order = np.array([np.argmax(flat)])
    elif len(flat) < topk:
        order = np.argsort(-flat)
    else:
        idx = np.argpartition(-flat, topk)[0:topk]
        order = idx[np.argsort(-flat[idx])]
    starts, ends = np.unravel_index(order, candidates.shape)[1:]
    # transformers tests membership in the whole nonzero() tuple (row indices included, so token 0
    # always passes); kept for identical answers
    keep = np.isin(starts, desired.nonzero()) & np.isin(ends, desired.nonzero())
    starts, ends = starts[keep], ends[keep]
    return starts, ends, candidates[0, starts, ends]
