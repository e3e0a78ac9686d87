"""Logits processors and warpers, applied in the order transformers 4.57 builds them."""
from __future__ import annotations

import numpy as np

from .config import GenerationConfig

NEG_INF = -np.inf


def repetition_penalty(p: float):
    def apply(ids, scores):
        picked = np.take_along_axis(scores, ids, axis=1)
        picked = np.where(picked < 0, picked * p, picked / p)
        out = scores.copy()
        np.put_along_axis(out, ids, picked, axis=1)
        return out
    return apply


def no_repeat_ngram(n: int):
    def apply(ids, scores):
        cur = ids.shape[1]
        if cur + 1 < n:
            return scores
        out = scores.copy()
        for row, seq in enumerate(ids.tolist()):
            prefix = tuple(seq[cur - n + 1:])
            banned = {seq[i + n - 1] for i in range(cur - n + 1) if tuple(seq[i:i + n - 1]) == prefix}
            if banned:
                out[row, list(banned)] = NEG_INF
        return out
    return apply


def min_length(limit: int, eos: list[int], offset: int = 0):
    """eos is impossible while (length - offset) < limit (offset = prompt length for min_new_tokens)."""
    def apply(ids, scores):
        if ids.shape[1] - offset < limit:
            scores = scores.copy()
            scores[:, eos] = NEG_INF
        return scores
    return apply


def forced_token(token: int, at_len):
    def apply(ids, scores):
        if ids.shape[1] == at_len:
            out = np.full_like(scores, NEG_INF)
            out[:, token] = 0
            return out
        return scores
    return apply


def suppress(tokens, at_len=None):
    tokens = list(tokens)

    def apply(ids, scores):
        if at_len is None or ids.shape[1] == at_len:
            scores = scores.copy()
            scores[:, tokens] = NEG_INF
        return scores
    return apply


def temperature(t: float):
    return lambda ids, scores: scores / t


def top_k(k: int):
    def apply(ids, scores):
        k_ = min(max(k, 1), scores.shape[-1])
        kth = np.sort(scores, axis=-1)[:, -k_][:, None]
        return np.where(scores < kth, NEG_INF, scores)
    return apply


def top_p(p: float, min_keep: int = 1):
    def apply(ids, scores):
        order = np.argsort(scores, axis=-1, kind="stable")  # ascending, like torch.sort(descending=False)
        sorted_scores = np.take_along_axis(scores, order, axis=-1)
        probs = _softmax(sorted_scores)
        remove_sorted = np.cumsum(probs, axis=-1) <= (1 - p)
        remove_sorted[:, -min_keep:] = False
        remove = np.zeros_like(remove_sorted)
        np.put_along_axis(remove, order, remove_sorted, axis=-1)
        return np.where(remove, NEG_INF, scores)
    return apply


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def build(cfg: GenerationConfig, prompt_len: int, max_length: int):
    """The processor chain for one generate() call (transformers' order)."""
    chain = []
    eos = cfg.eos_ids
    if cfg.repetition_penalty != 1.0:
        chain.append(repetition_penalty(cfg.repetition_penalty))
    if cfg.no_repeat_ngram_size:
        chain.append(no_repeat_ngram(cfg.no_repeat_ngram_size))
    if cfg.min_length and eos:
        chain.append(min_length(cfg.min_length, eos))
    if cfg.min_new_tokens and eos:
        chain.append(min_length(cfg.min_new_tokens, eos, offset=prompt_len))
    if cfg.forced_bos_token_id is not None:
        chain.append(forced_token(cfg.forced_bos_token_id, 1))
    if cfg.forced_eos_token_id is not None:
        chain.append(forced_token(cfg.forced_eos_token_id, max_length - 1))
    if cfg.suppress_tokens:
        chain.append(suppress(cfg.suppress_tokens))
    if cfg.begin_suppress_tokens:
        chain.append(suppress(cfg.begin_suppress_tokens, at_len=prompt_len))
    if cfg.do_sample:
        if cfg.temperature != 1.0:
            chain.append(temperature(cfg.temperature))
        if cfg.top_k:
            chain.append(top_k(cfg.top_k))
        if cfg.top_p < 1.0:
            chain.append(top_p(cfg.top_p))

    def apply(ids, scores):
        for fn in chain:
            scores = fn(ids, scores)
        return scores
    return apply
