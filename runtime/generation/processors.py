"""Logits processors and warpers, one small class each, chained in transformers 4.57's order.

Every processor is `processor(ids, scores) -> scores`: `ids` int64 [rows, length] are the tokens so far
(the prompt included; the decoder's tokens for encoder-decoder models), `scores` float32 [rows, vocab]
for the next token. `scores` is the caller's scratch array (the loop's own, which it never reads again):
processors that only mask or scale a few entries write into it and return it, as a copy of 200 KB of
logits per processor and step costs more than the rest of the loop's bookkeeping; the others return a new array.
The arithmetic mirrors transformers' (float32, same formulas), so the same logits give the same ids.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .config import GenerationConfig

NEG_INF = np.float32(-np.inf)


class LogitsProcessor:
    def __call__(self, ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class ProcessorList(list):
    """Applies its processors in order."""

    def __call__(self, ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        for processor in self:
            scores = processor(ids, scores)
        return scores


def _banned(scores: np.ndarray, tokens: Sequence[int]) -> np.ndarray:
    """`scores` with `tokens` set to -inf in place; ids outside the vocabulary are ignored (as transformers' isin
    does). One plain index per banned id: a mask over the whole vocabulary cost ~0.15 ms a step at 49k tokens, and
    a fancy index ~40 us right after a forward has emptied the caches, a handful of plain ones a few."""
    vocab = scores.shape[-1]
    for t in tokens:
        if 0 <= t < vocab:
            scores[..., t] = NEG_INF
    return scores


# -- processors ------------------------------------------------------------------------------------
class RepetitionPenalty(LogitsProcessor):
    """Tokens already in `ids` get score * penalty when negative, score / penalty otherwise (CTRL)."""

    def __init__(self, penalty: float):
        self.penalty = float(penalty)

    def __call__(self, ids, scores):
        picked = np.take_along_axis(scores, ids, axis=1)
        picked = np.where(picked < 0, picked * self.penalty, picked / self.penalty)
        np.put_along_axis(scores, ids, picked, axis=1)
        return scores


class NoRepeatNGram(LogitsProcessor):
    """A token that would complete an n-gram already present in the row is banned."""

    def __init__(self, n: int):
        self.n = int(n)

    def __call__(self, ids, scores):
        n, cur = self.n, ids.shape[1]
        if cur + 1 < n:
            return scores
        for row, seq in enumerate(ids.tolist()):
            prefix = seq[cur - n + 1:]
            banned = [seq[i + n - 1] for i in range(cur - n + 1) if seq[i:i + n - 1] == prefix]
            if banned:
                scores[row, banned] = NEG_INF
        return scores


class MinLength(LogitsProcessor):
    """eos is impossible while the rows are shorter than `min_length` tokens (prompt included)."""

    def __init__(self, min_length: int, eos: Sequence[int]):
        self.min_length, self.eos = int(min_length), list(eos)

    def __call__(self, ids, scores):
        if ids.shape[1] >= self.min_length:
            return scores
        return _banned(scores, self.eos)


class MinNewTokens(LogitsProcessor):
    """eos is impossible until `min_new_tokens` tokens follow the prompt."""

    def __init__(self, prompt_len: int, min_new_tokens: int, eos: Sequence[int]):
        self.prompt_len, self.min_new_tokens, self.eos = int(prompt_len), int(min_new_tokens), list(eos)

    def __call__(self, ids, scores):
        if ids.shape[1] - self.prompt_len >= self.min_new_tokens:
            return scores
        return _banned(scores, self.eos)


class ForceTokensAt(LogitsProcessor):
    """At length `at_length` only `tokens` are possible (score 0, the rest -inf). Forced BOS is
    at_length=1 (right after the decoder start token), forced EOS is max_length - 1."""

    def __init__(self, tokens: Sequence[int], at_length: int):
        self.tokens, self.at_length = list(tokens), int(at_length)

    def __call__(self, ids, scores):
        if ids.shape[1] != self.at_length:
            return scores
        out = np.full_like(scores, NEG_INF)
        out[:, self.tokens] = 0
        return out


class SuppressTokens(LogitsProcessor):
    """`tokens` are never generated."""

    def __init__(self, tokens: Sequence[int]):
        self.tokens = list(tokens)

    def __call__(self, ids, scores):
        return _banned(scores, self.tokens)


class SuppressTokensAtBegin(LogitsProcessor):
    """`tokens` cannot be the first generated token (Whisper: no blank or eos right after the prompt)."""

    def __init__(self, tokens: Sequence[int], begin_index: int):
        self.tokens, self.begin_index = list(tokens), int(begin_index)

    def __call__(self, ids, scores):
        if ids.shape[1] != self.begin_index:
            return scores
        return _banned(scores, self.tokens)


# -- warpers (sampling only) -----------------------------------------------------------------------
class Temperature(LogitsProcessor):
    def __init__(self, temperature: float):
        self.temperature = float(temperature)

    def __call__(self, ids, scores):
        return scores / self.temperature


class TopK(LogitsProcessor):
    """Keeps the k best scores (ties with the k-th are kept too, as in transformers)."""

    def __init__(self, k: int, min_tokens_to_keep: int = 1):
        self.k = max(int(k), int(min_tokens_to_keep))

    def __call__(self, ids, scores):
        k = min(self.k, scores.shape[-1])
        kth = np.partition(scores, -k, axis=-1)[:, -k:].min(axis=-1, keepdims=True)
        return np.where(scores < kth, NEG_INF, scores)


class TopP(LogitsProcessor):
    """Nucleus: keeps the smallest set of best tokens whose probability reaches p (at least
    `min_tokens_to_keep`). Computed on ascending scores, like transformers, so ties resolve alike."""

    def __init__(self, p: float, min_tokens_to_keep: int = 1):
        self.p, self.min_tokens_to_keep = float(p), int(min_tokens_to_keep)

    def __call__(self, ids, scores):
        order = np.argsort(scores, axis=-1, kind="stable")
        cumulative = np.cumsum(softmax(np.take_along_axis(scores, order, axis=-1)), axis=-1)
        remove_sorted = cumulative <= (1 - self.p)
        remove_sorted[:, -self.min_tokens_to_keep:] = False
        remove = np.zeros_like(remove_sorted)
        np.put_along_axis(remove, order, remove_sorted, axis=-1)
        return np.where(remove, NEG_INF, scores)


class MinP(LogitsProcessor):
    """Keeps the tokens whose probability is at least `p` times the best token's (at least
    `min_tokens_to_keep`, taken in descending score order like transformers' stable sort)."""

    def __init__(self, p: float, min_tokens_to_keep: int = 1):
        self.p, self.min_tokens_to_keep = float(p), int(min_tokens_to_keep)

    def __call__(self, ids, scores):
        probs = softmax(scores)
        remove = probs < self.p * probs.max(axis=-1, keepdims=True)
        if self.min_tokens_to_keep > 1:  # the best token always passes (its probability is the max)
            order = np.argsort(-scores, axis=-1, kind="stable")[:, :self.min_tokens_to_keep]
            np.put_along_axis(remove, order, False, axis=-1)
        return np.where(remove, NEG_INF, scores)


# -- the chain -------------------------------------------------------------------------------------
def build_processors(cfg: GenerationConfig, prompt_len: int, max_length: int, min_length: int) -> ProcessorList:
    """The chain of `GenerationMixin._get_logits_processor` (transformers 4.57) for these options, in its
    order; warpers only when sampling. `min_length` / `max_length` are the resolved totals
    (`cfg.lengths(prompt_len)`)."""
    chain = ProcessorList()
    eos = cfg.eos_ids
    if cfg.repetition_penalty != 1.0:
        chain.append(RepetitionPenalty(cfg.repetition_penalty))
    if cfg.no_repeat_ngram_size:
        chain.append(NoRepeatNGram(cfg.no_repeat_ngram_size))
    if eos and min_length > 0:
        chain.append(MinLength(min_length, eos))
    if eos and cfg.min_new_tokens:
        chain.append(MinNewTokens(prompt_len, cfg.min_new_tokens, eos))
    if cfg.forced_bos_token_id is not None:
        chain.append(ForceTokensAt([cfg.forced_bos_token_id], at_length=1))
    if cfg.forced_eos_token_id is not None:
        forced_eos = cfg.forced_eos_token_id
        chain.append(ForceTokensAt([forced_eos] if isinstance(forced_eos, int) else forced_eos, max_length - 1))
    if cfg.suppress_tokens is not None:
        chain.append(SuppressTokens(cfg.suppress_tokens))
    if cfg.begin_suppress_tokens is not None:
        # transformers: a 1-token prompt followed by a forced BOS starts one later.
        begin = prompt_len if (prompt_len > 1 or cfg.forced_bos_token_id is None) else prompt_len + 1
        chain.append(SuppressTokensAtBegin(cfg.begin_suppress_tokens, begin))
    if cfg.do_sample:
        # Beam sampling must keep a non-eos continuation per beam (transformers: number of eos + 1).
        keep = (len(eos) + 1 if eos else 2) if cfg.num_beams > 1 else 1
        if cfg.temperature != 1.0:
            chain.append(Temperature(cfg.temperature))
        if cfg.top_k:
            chain.append(TopK(cfg.top_k, keep))
        if cfg.top_p < 1.0:
            chain.append(TopP(cfg.top_p, keep))
        if cfg.min_p is not None:
            chain.append(MinP(cfg.min_p, keep))
    return chain


# -- numerics --------------------------------------------------------------------------------------
def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
