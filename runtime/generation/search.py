"""The generation loop: greedy search, sampling and beam search over a StepModel (NumPy only).

Semantics are transformers 4.57's `generate` (`_sample`, vectorised `_beam_search`), step for step, so the
same logits give the same token ids; only sampling draws from NumPy's generator instead of torch's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Generator, Iterator, cast

import numpy as np

from ..errors import UsageError
from ..names import ATTENTION_MASK, INPUT_IDS
from .config import GenerationConfig
from .processors import ProcessorList, build_processors, log_softmax, softmax
from .stopping import StopStrings

if TYPE_CHECKING:
    from .step_models import StepModel

NEG = np.float32(-1.0e9)  # transformers' "impossible" beam score: finite, so sums stay ordered


@dataclass
class _Plan:
    """One generate() call, checked and resolved."""

    model: StepModel
    inputs: dict
    prompt: np.ndarray  # int64 [batch, prompt_len]
    cfg: GenerationConfig
    max_length: int
    eos: np.ndarray  # int64 [n_eos]
    pad: int | None  # written after eos in finished rows
    processors: ProcessorList
    stop: StopStrings | None  # stop_strings, when set


def generate(model, inputs: dict, prompt: np.ndarray | None, config: GenerationConfig | None = None,
             streamer=None, token_text: Callable[[int], str] | None = None) -> np.ndarray:
    """Token ids int64 [batch * num_return_sequences, length]: the prompt followed by the new tokens;
    rows that stopped early are padded with pad_token_id (eos when there is no pad), like transformers.

    model:   a StepModel (see step_models.py).
    inputs:  what model.start needs: decoder-only {"attention_mask"} (0 = left padding; all ones if
             absent); encoder-decoder the encoder inputs and their "attention_mask".
    prompt:  decoder-only, the (left-padded) input ids; encoder-decoder, the decoder's first tokens,
             one row for all inputs or one per input. None: inputs["input_ids"] (decoder-only) or
             `config.decoder_prompt()` (encoder-decoder).
    streamer: greedy and sampling only; called with each step's new tokens int64 [rows] — a callable,
             or an object with put(tokens) and end() (like transformers' streamers; never gets the prompt).
    token_text: one token's text (e.g. TextTokenizer.token_text); needed for config.stop_strings, as
             transformers' generate needs its `tokenizer` argument then.
    """
    plan = _prepare(model, inputs, prompt, config, token_text)
    if plan.max_length <= plan.prompt.shape[1]:  # max_new_tokens=0: nothing to generate
        if hasattr(streamer, "end"):
            streamer.end()
        return np.repeat(plan.prompt, plan.cfg.num_return_sequences, axis=0)
    if plan.cfg.num_beams > 1:
        if streamer is not None:
            raise UsageError(f"Streaming works with greedy search and sampling, not beam search "
                             f"(num_beams={plan.cfg.num_beams}). Set num_beams=1 to stream.")
        return _beam_search(plan)
    put = getattr(streamer, "put", streamer)
    steps = _decode(plan)
    while True:
        try:
            tokens = next(steps)
        except StopIteration as done:
            ids = done.value
            break
        if put is not None:
            put(tokens)
    if hasattr(streamer, "end"):
        streamer.end()
    return ids


def stream_generate(model, inputs: dict, prompt: np.ndarray | None, config: GenerationConfig | None = None,
                    token_text: Callable[[int], str] | None = None) -> Iterator[np.ndarray]:
    """Like generate(), but yields each step's new tokens int64 [rows] as soon as they are chosen
    (greedy and sampling). Arguments are checked now, before the first token is asked for."""
    plan = _prepare(model, inputs, prompt, config, token_text)
    if plan.cfg.num_beams > 1:
        raise UsageError(f"Streaming works with greedy search and sampling, not beam search "
                         f"(num_beams={plan.cfg.num_beams}). Set num_beams=1 to stream.")
    if plan.max_length <= plan.prompt.shape[1]:
        return iter(())
    return _yield_tokens(_decode(plan))


def generate_steps(model, inputs: dict, prompt: np.ndarray | None, config: GenerationConfig | None = None,
                   token_text: Callable[[int], str] | None = None) -> Generator[np.ndarray, None, np.ndarray]:
    """generate() as a generator: yields each step's new tokens int64 [rows] and returns generate()'s
    ids (greedy and sampling), so a caller can show tokens as they come and still get the result."""
    plan = _prepare(model, inputs, prompt, config, token_text)
    if plan.max_length <= plan.prompt.shape[1]:  # max_new_tokens=0: nothing to generate
        return np.repeat(plan.prompt, plan.cfg.num_return_sequences, axis=0)
    if plan.cfg.num_beams > 1:
        raise UsageError(f"Streaming works with greedy search and sampling, not beam search "
                         f"(num_beams={plan.cfg.num_beams}). Set num_beams=1 to stream.")
    return (yield from _decode(plan))


def _yield_tokens(steps: Generator[np.ndarray, None, Any]) -> Iterator[np.ndarray]:
    yield from steps  # drops the generator's return value (the full ids)


# -- preparation -----------------------------------------------------------------------------------
def _prepare(model, inputs: dict | None, prompt, config: GenerationConfig | None,
             token_text: Callable[[int], str] | None = None) -> _Plan:
    cfg = config if config is not None else GenerationConfig()
    cfg.validate()
    stop = None
    if cfg.stop_strings:
        if token_text is None:
            raise UsageError(f"stop_strings {list(cfg.stop_strings)!r} need the tokenizer: pass token_text "
                             "(e.g. pipeline.tokenizer.token_text), or use the pipeline, which passes it.")
        stop = StopStrings(cfg.stop_strings, token_text)
    inputs = dict(inputs or {})
    encoder_decoder = bool(getattr(model, "is_encoder_decoder", False))
    if prompt is None:
        if encoder_decoder:
            prompt = [cfg.decoder_prompt()]
        elif INPUT_IDS in inputs:
            prompt = inputs[INPUT_IDS]
        elif cfg.bos_token_id is not None:
            prompt = [[cfg.bos_token_id]]
        else:
            raise UsageError("No prompt: pass the input ids, or set bos_token_id to start from nothing.")
    prompt = np.asarray(prompt)
    if prompt.ndim == 1:
        prompt = prompt[None, :]
    if prompt.ndim != 2 or prompt.shape[1] == 0 or not np.issubdtype(prompt.dtype, np.integer):
        raise UsageError(f"The prompt must be integer token ids [batch, length >= 1], got {prompt.dtype} "
                         f"{list(prompt.shape)}.")
    prompt = prompt.astype(np.int64)

    if encoder_decoder:
        batch = _batch_size(inputs)
        if batch is not None and prompt.shape[0] != batch:
            if prompt.shape[0] != 1:
                raise UsageError(f"The decoder prompt has {prompt.shape[0]} rows for {batch} inputs; "
                                 "give one row, or one per input.")
            prompt = np.repeat(prompt, batch, axis=0)
    else:
        mask = inputs.get(ATTENTION_MASK)
        mask = np.ones_like(prompt) if mask is None else np.asarray(mask).astype(np.int64)
        if mask.shape != prompt.shape:
            raise UsageError(f"attention_mask {list(mask.shape)} must have the prompt's shape {list(prompt.shape)}.")
        if (mask[:, -1] == 0).any():
            # Right padding would put pads between the prompt and the new tokens.
            raise UsageError("The prompt is right-padded; decoder-only generation needs left padding "
                             "(tokenizer padding_side='left').")
        inputs[ATTENTION_MASK] = mask

    prompt_len = prompt.shape[1]
    max_length, min_length = cfg.lengths(prompt_len)
    if max_length < prompt_len or (max_length == prompt_len and cfg.max_new_tokens is None):
        raise UsageError(f"The prompt has {prompt_len} tokens but max_length is {max_length}. "
                         "Raise max_length, or set max_new_tokens instead.")
    eos = np.array(cfg.eos_ids, dtype=np.int64)
    # transformers pads finished rows with pad_token_id, or the (first) eos when there is no pad.
    pad = cfg.pad_token_id if cfg.pad_token_id is not None else (int(eos[0]) if eos.size else None)
    procs = build_processors(cfg, prompt_len, max_length, min_length)
    return _Plan(model, inputs, prompt, cfg, max_length, eos, pad, procs, stop)


def _batch_size(inputs: dict) -> int | None:
    if ATTENTION_MASK in inputs:
        return int(np.shape(inputs[ATTENTION_MASK])[0])
    for value in inputs.values():
        if np.ndim(value) >= 1:
            return int(np.shape(value)[0])
    return None


def _last_logits(logits) -> np.ndarray:
    """The last position's float32 logits [rows, vocab], writable: the processors mask them in place."""
    logits = np.asarray(logits)
    if logits.ndim == 3:
        logits = logits[:, -1, :]
    if logits.dtype != np.float32 or not logits.flags.writeable:
        return logits.astype(np.float32)
    return logits


def _check_vocab(cfg: GenerationConfig, vocab: int) -> None:
    """Checks that need the vocabulary size (known after the first step)."""
    if cfg.num_beams > vocab:
        raise UsageError(f"num_beams ({cfg.num_beams}) is larger than the vocabulary ({vocab} tokens); "
                         "use fewer beams.")
    forced = {"forced_bos_token_id": [cfg.forced_bos_token_id], "forced_eos_token_id": cfg.forced_eos_token_id}
    for name, tokens in forced.items():
        tokens = [tokens] if isinstance(tokens, int) else tokens
        bad = [t for t in tokens or () if t is not None and t >= vocab]
        if bad:
            raise UsageError(f"{name} {bad[0]} is outside the vocabulary (ids 0..{vocab - 1}).")


# -- greedy search and sampling --------------------------------------------------------------------
def _decode(plan: _Plan) -> Generator[np.ndarray, None, np.ndarray]:
    """Yields each step's new tokens [rows]; returns all ids [rows, length]."""
    cfg, eos = plan.cfg, plan.eos
    expand = cfg.num_return_sequences  # > 1 only when sampling (checked by the config)
    rng = np.random.default_rng(cfg.seed) if cfg.do_sample else None
    prompt = np.repeat(plan.prompt, expand, axis=0)
    rows, length = prompt.shape
    # Every numpy call costs tens of microseconds right after a forward has flushed the caches, so a step does
    # few: the ids fill one buffer (no copy per token), and rows are checked against eos only when a token is one.
    ids_buffer = np.empty((rows, plan.max_length), np.int64)
    ids_buffer[:, :length] = prompt
    eos_ids = set(eos.tolist())
    state = plan.model.start(plan.inputs, expand)
    unfinished = np.ones(rows, dtype=bool)
    all_running = True
    new = prompt
    while True:
        ids = ids_buffer[:, :length]
        logits = _last_logits(plan.model.step(state, new))
        if new is prompt:
            _check_vocab(cfg, logits.shape[-1])
        scores = plan.processors(ids, logits)
        tokens = _sample(scores, rng) if rng is not None else scores.argmax(axis=-1).astype(np.int64)
        if not all_running and eos.size:
            tokens = np.where(unfinished, tokens, cast(int, plan.pad))  # finished rows: pad (set when there is eos)
        ids_buffer[:, length] = tokens
        length += 1
        yield tokens
        changed = bool(eos_ids) and not eos_ids.isdisjoint(tokens.tolist())
        if changed:
            unfinished &= (tokens[:, None] != eos).all(axis=1)  # np.isin's set-up costs more per step
        if plan.stop is not None:
            unfinished &= ~plan.stop(ids_buffer[:, :length])
            changed = True
        if changed:
            all_running = bool(unfinished.all())
        if (changed and not unfinished.any()) or length >= plan.max_length:
            return ids_buffer[:, :length].copy()
        new = tokens[:, None]


def _sample(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One token per row, drawn from softmax(scores) by inverting the cumulative distribution: one
    uniform draw per row, and a token with probability 0 (masked to -inf) can never come out."""
    probs = softmax(scores.astype(np.float64))
    cdf = np.cumsum(probs, axis=-1)
    target = rng.random(scores.shape[0]) * cdf[:, -1]
    return (cdf <= target[:, None]).sum(axis=-1).astype(np.int64)


# -- beam search -----------------------------------------------------------------------------------
def _topk(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Like torch.topk along the last axis (descending); ties keep the lower index first."""
    if x.shape[-1] <= 4 * k:
        idx = np.argsort(-x, axis=-1, kind="stable")[:, :k]
        return np.take_along_axis(x, idx, axis=-1), idx
    # beams x vocab candidates: partition first (a full sort per step would dominate), then take the
    # values above the k-th and, among those equal to it, the lowest indices, as the stable sort would.
    kth = -np.partition(-x, k - 1, axis=-1)[:, k - 1:k]
    idx = np.empty((x.shape[0], k), np.int64)
    for row in range(x.shape[0]):
        above = np.flatnonzero(x[row] > kth[row])
        ties = np.flatnonzero(x[row] == kth[row])[:k - above.size]
        chosen = np.concatenate([above, ties])
        idx[row] = chosen[np.lexsort((chosen, -x[row, chosen]))]
    return np.take_along_axis(x, idx, axis=-1), idx


def _sample_without_replacement(scores: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k indices per row drawn without replacement from softmax(scores), in draw order (what
    torch.multinomial(replacement=False) gives), via the Gumbel-top-k trick."""
    finite = np.isfinite(scores).sum(axis=-1)
    if (finite < k).any():
        raise UsageError(f"Beam sampling needs {k} candidate tokens per input, but top_k/top_p left "
                         f"{int(finite.min())}. Raise top_k / top_p or use fewer beams.")
    keys = scores.astype(np.float64) + rng.gumbel(size=scores.shape)
    return np.argsort(-keys, axis=-1, kind="stable")[:, :k]


def _beam_search(plan: _Plan) -> np.ndarray:
    """transformers 4.57 `_beam_search`: keep the (1 + n_eos) * num_beams best continuations of all
    beams, continue with the best num_beams that did not stop, and merge the ones that stopped into
    the finished hypotheses (score = sum of logprobs / generated_length ** length_penalty)."""
    cfg, model, eos = plan.cfg, plan.model, plan.eos
    batch, prompt_len = plan.prompt.shape
    beams, max_length = cfg.num_beams, plan.max_length
    lp, early = cfg.length_penalty, cfg.early_stopping
    keep = max(2, 1 + eos.size) * beams
    top_beams = np.arange(keep) < beams
    rng = np.random.default_rng(cfg.seed) if cfg.do_sample else None
    # transformers fills with `pad_token_id or eos_token_id[0]` (so a pad id of 0 becomes the eos) and -1
    # without eos; the fill shows where a returned hypothesis is shorter than the longest one.
    fill = (plan.pad or int(eos[0])) if eos.size else -1

    running = np.full((batch, beams, max_length), fill, dtype=np.int64)
    running[:, :, :prompt_len] = plan.prompt[:, None, :]
    running_scores = np.zeros((batch, beams), np.float32)
    running_scores[:, 1:] = NEG  # all beams start equal: only the first may expand at step one
    sequences = running.copy()  # finished hypotheses
    scores = np.full((batch, beams), NEG, np.float32)
    finished = np.zeros((batch, beams), bool)
    lengths = np.zeros((batch, beams), np.int64)  # generated tokens of each finished hypothesis
    improvable = np.ones((batch, 1), bool)  # transformers' is_early_stop_heuristic_unsatisfied
    offsets = np.arange(batch)[:, None] * beams

    state = model.start(plan.inputs, beams)
    cur = prompt_len
    new = running[:, :, :cur].reshape(batch * beams, cur)
    while True:
        flat = running[:, :, :cur].reshape(batch * beams, cur)
        logits = _last_logits(model.step(state, new))
        vocab = logits.shape[-1]
        if cur == prompt_len:
            _check_vocab(cfg, vocab)
        logp = plan.processors(flat, log_softmax(logits))
        total = (logp.reshape(batch, beams, vocab) + running_scores[:, :, None]).reshape(batch, beams * vocab)

        # 1. the best `keep` continuations (sampled ones, in draw order, when do_sample)
        if rng is not None:
            idx = _sample_without_replacement(total, keep, rng)
            cand_scores = np.take_along_axis(total, idx, axis=-1)
        else:
            cand_scores, idx = _topk(total, keep)
        src_beam, tokens = idx // vocab, idx % vocab
        cand = np.take_along_axis(running, src_beam[:, :, None], axis=1)
        cand[:, :, cur] = tokens
        hits = (cur + 1 >= max_length) | np.isin(tokens, eos)
        if plan.stop is not None:
            hits |= plan.stop(cand[:, :, :cur + 1].reshape(batch * keep, cur + 1)).reshape(batch, keep)

        # 2. next running beams: the best candidates that did not stop
        live = cand_scores + hits.astype(np.float32) * NEG
        _, pick = _topk(live, beams)
        running = np.take_along_axis(cand, pick[:, :, None], axis=1)
        running_scores = np.take_along_axis(live, pick, axis=1)
        cache_rows = (np.take_along_axis(src_beam, pick, axis=1) + offsets).reshape(-1)

        # 3. finished hypotheses: merge those that just stopped among the top `beams` candidates
        just_done = hits & top_beams[None, :]
        norm = cand_scores / ((cur + 1 - prompt_len) ** lp)
        full = finished.all(axis=-1, keepdims=True) & (early is True)
        norm = norm + full.astype(np.float32) * NEG  # added one by one in float32, as transformers does
        norm = norm + (~improvable).astype(np.float32) * NEG
        norm = norm + (~just_done).astype(np.float32) * NEG
        merged_scores = np.concatenate([scores, norm], axis=1)
        _, best = _topk(merged_scores, beams)
        sequences = np.take_along_axis(np.concatenate([sequences, cand], axis=1), best[:, :, None], axis=1)
        scores = np.take_along_axis(merged_scores, best, axis=1)
        finished = np.take_along_axis(np.concatenate([finished, just_done], axis=1), best, axis=1)
        new_len = np.full((batch, keep), cur + 1 - prompt_len, np.int64)
        lengths = np.take_along_axis(np.concatenate([lengths, new_len], axis=1), best, axis=1)
        cur += 1

        # 4. stop when no running beam can beat the worst finished one, all are finished (early
        #    stopping), or every candidate stopped (max_length)
        if early == "never" and lp > 0.0:
            best_len = max_length - prompt_len
        else:
            best_len = cur - prompt_len
        best_possible = running_scores[:, :1] / (best_len ** lp)
        worst_finished = np.where(finished, scores.min(axis=1, keepdims=True), NEG)
        improvable = improvable & (best_possible > worst_finished).any(axis=-1, keepdims=True)
        if not improvable.any() or (finished.all() and early is True) or hits.all():
            break
        model.reorder(state, cache_rows)
        new = running[:, :, cur - 1:cur].reshape(batch * beams, 1)

    n = cfg.num_return_sequences
    out = sequences[:, :n].reshape(batch * n, max_length)
    return out[:, :prompt_len + int(lengths[:, :n].max())]
