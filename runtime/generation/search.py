"""Greedy search, sampling and beam search over a StepModel, with transformers 4.57 semantics."""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from . import processors
from ..errors import UsageError
from .config import GenerationConfig


def generate(model, inputs: dict, prompt: np.ndarray, cfg: GenerationConfig,
             streamer: Callable[[np.ndarray], None] | None = None) -> np.ndarray:
    """Token ids [rows, length]: the prompt (decoder-only: the padded input ids; encoder-decoder: the
    decoder start tokens) followed by the generated tokens, padded with pad_token_id.

    `inputs` are what model.start needs (attention_mask; encoder inputs). `streamer(tokens [rows])` is
    called with each new token (greedy and sampling)."""
    cfg.validate()
    prompt = np.asarray(prompt, dtype=np.int64)
    max_length = cfg.max_length_for(prompt.shape[1])
    if max_length <= prompt.shape[1]:
        return prompt
    if cfg.num_beams > 1:
        return _beam_search(model, inputs, prompt, cfg, max_length)
    return _sample(model, inputs, prompt, cfg, max_length, streamer)


def stream_generate(model, inputs: dict, prompt: np.ndarray, cfg: GenerationConfig) -> Iterator[np.ndarray]:
    """Yield the new token of every row as it is produced (greedy / sampling)."""
    import queue
    import threading

    q: queue.Queue = queue.Queue()
    done = object()

    def work():
        try:
            generate(model, inputs, prompt, cfg, streamer=q.put)
        finally:
            q.put(done)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    while (item := q.get()) is not done:
        yield item
    t.join()


def _sample(model, inputs, prompt, cfg, max_length, streamer):
    rng = np.random.default_rng(cfg.seed)
    rows = prompt.shape[0] * (cfg.num_return_sequences if cfg.do_sample else 1)
    ids = np.repeat(prompt, rows // prompt.shape[0], axis=0)
    state = model.start(inputs, rows // prompt.shape[0])
    process = processors.build(cfg, prompt.shape[1], max_length)
    eos = np.array(cfg.eos_ids, dtype=np.int64)
    pad = cfg.pad_token_id if cfg.pad_token_id is not None else (int(eos[0]) if eos.size else 0)
    unfinished = np.ones(rows, dtype=bool)
    new = ids
    while True:
        logits = model.step(state, new)
        scores = process(ids, logits)
        if cfg.do_sample:
            probs = processors._softmax(scores.astype(np.float64))
            nxt = np.array([rng.choice(probs.shape[1], p=p / p.sum()) for p in probs], dtype=np.int64)
        else:
            nxt = scores.argmax(axis=-1).astype(np.int64)
        if eos.size:
            nxt = np.where(unfinished, nxt, pad)
        ids = np.concatenate([ids, nxt[:, None]], axis=1)
        if streamer is not None:
            streamer(nxt)
        if eos.size:
            unfinished &= ~np.isin(nxt, eos)
        if not unfinished.any() or ids.shape[1] >= max_length:
            return ids
        new = nxt[:, None]


def _topk(x: np.ndarray, k: int):
    """Like torch.topk (sorted, descending); ties keep the lower index first."""
    idx = np.argsort(-x, axis=-1, kind="stable")[:, :k]
    return np.take_along_axis(x, idx, axis=-1), idx


def _beam_search(model, inputs, prompt, cfg, max_length):
    batch, prompt_len = prompt.shape
    beams = cfg.num_beams
    eos = np.array(cfg.eos_ids, dtype=np.int64)
    keep = max(2, 1 + eos.size) * beams
    top_beam_mask = np.arange(keep) < beams
    fill = cfg.pad_token_id if cfg.pad_token_id is not None else (int(eos[0]) if eos.size else -1)
    lp, early = cfg.length_penalty, cfg.early_stopping
    process = processors.build(cfg, prompt_len, max_length)

    running = np.full((batch, beams, max_length), fill, dtype=np.int64)
    running[:, :, :prompt_len] = prompt[:, None, :]
    sequences = running.copy()
    running_scores = np.zeros((batch, beams), np.float32)
    running_scores[:, 1:] = -1e9
    scores = np.full((batch, beams), -1e9, np.float32)
    finished = np.zeros((batch, beams), bool)
    heuristic_open = np.ones((batch, 1), bool)
    lengths = np.zeros((batch, beams), np.int64)  # generated tokens per finished hypothesis
    running_len = np.zeros((batch, beams), np.int64)
    state = model.start(inputs, beams)
    cur = prompt_len
    new = running[:, :, :cur].reshape(batch * beams, cur)
    vocab = None
    while True:
        flat = running[:, :, :cur].reshape(batch * beams, cur)
        logits = model.step(state, new)
        vocab = logits.shape[-1]
        if beams > vocab:
            raise UsageError(f"num_beams ({beams}) is larger than the vocabulary ({vocab} tokens); use fewer beams.")
        logp = process(flat, processors.log_softmax(logits.astype(np.float32)))
        acc = (logp.reshape(batch, beams, vocab) + running_scores[:, :, None]).reshape(batch, beams * vocab)
        top_scores, top_idx = _topk(acc, keep)
        src_beam = top_idx // vocab
        tokens = top_idx % vocab
        cand = np.take_along_axis(running, src_beam[:, :, None], axis=1).copy()
        cand[:, :, cur] = tokens
        cand_len = np.take_along_axis(running_len, src_beam, axis=1) + 1
        hits = (cur + 1 >= max_length) | (np.isin(tokens, eos) if eos.size else np.zeros_like(tokens, bool))
        # running beams for the next step: the best candidates that did not stop
        live = top_scores + hits.astype(np.float32) * -1e9
        _, nxt = _topk(live, beams)
        running = np.take_along_axis(cand, nxt[:, :, None], axis=1)
        running_scores = np.take_along_axis(live, nxt, axis=1)
        running_len = np.take_along_axis(cand_len, nxt, axis=1)
        reorder_rows = (np.take_along_axis(src_beam, nxt, axis=1) + np.arange(batch)[:, None] * beams).reshape(-1)
        # finished hypotheses: merge the new ones (top `beams` candidates that stopped) with the kept ones
        just_done = hits & top_beam_mask[None, :]
        norm = top_scores / float((cur + 1 - prompt_len) ** lp)
        full = np.all(finished, axis=-1, keepdims=True) & (early is True)
        norm = norm + full * -1e9 + (~heuristic_open) * -1e9 + (~just_done) * -1e9
        m_seq = np.concatenate([sequences, cand], axis=1)
        m_scores = np.concatenate([scores, norm.astype(np.float32)], axis=1)
        m_done = np.concatenate([finished, just_done], axis=1)
        m_len = np.concatenate([lengths, cand_len], axis=1)
        _, best = _topk(m_scores, beams)
        sequences = np.take_along_axis(m_seq, best[:, :, None], axis=1)
        scores = np.take_along_axis(m_scores, best, axis=1)
        finished = np.take_along_axis(m_done, best, axis=1)
        lengths = np.take_along_axis(m_len, best, axis=1)
        model.reorder(state, reorder_rows)
        cur += 1
        # early-stop heuristic and loop condition, as transformers computes them
        hyp_len = (max_length - prompt_len) if (early == "never" and lp > 0.0) else (cur - prompt_len)
        best_running = running_scores[:, :1] / float(hyp_len ** lp)
        worst_done = np.where(finished, scores.min(axis=1, keepdims=True), -1e9)
        heuristic_open = heuristic_open & np.any(best_running > worst_done, axis=-1, keepdims=True)
        go_on = heuristic_open.any() and not (finished.all() and early is True) and not hits.all()
        if not go_on:
            break
        new = running[:, :, cur - 1:cur].reshape(batch * beams, 1)
    n = cfg.num_return_sequences
    out = sequences[:, :n].reshape(batch * n, max_length)
    out_len = prompt_len + int(lengths[:, :n].max())
    return out[:, :out_len]
