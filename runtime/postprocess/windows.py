"""Overlapping token windows over a text longer than the model's max length, and merging them back.

A window is an index array into the full (untruncated) encoding: the encoding's leading special tokens
([CLS], <s>), a consecutive slice of its content tokens, and its trailing special tokens ([SEP], </s>).
Slices overlap by `stride` tokens, so every token is seen with context on both sides in some window."""
from __future__ import annotations

import numpy as np

from ..errors import UsageError


def content_range(encoding) -> tuple[int, int]:
    """[a, b): the non-special tokens of a single-sequence encoding (special tokens lead and trail)."""
    mask = encoding.special_tokens_mask
    a, b = 0, len(mask)
    while a < b and mask[a]:
        a += 1
    while b > a and mask[b - 1]:
        b -= 1
    return a, b


def _room(encoding, max_length: int) -> tuple[int, int, int]:
    a, b = content_range(encoding)
    room = max_length - a - (len(encoding.ids) - b)
    if room < 1:
        raise UsageError(f"max length {max_length} leaves no room for text between the special tokens.")
    return a, b, room


def _window(encoding, a: int, b: int, start: int, end: int) -> np.ndarray:
    n = len(encoding.ids)
    return np.concatenate([np.arange(0, a), np.arange(start, end), np.arange(b, n)]).astype(np.int64)


def sliding_windows(encoding, max_length: int, stride: int) -> list[np.ndarray]:
    """Windows covering every content token; consecutive ones share `stride` tokens."""
    a, b, room = _room(encoding, max_length)
    if not 0 <= stride < room:
        raise UsageError(f"stride must be in [0, {room}) for windows of {max_length} tokens, got {stride}.")
    out, start = [], a
    while True:
        end = min(start + room, b)
        out.append(_window(encoding, a, b, start, end))
        if end >= b:
            return out
        start = end - stride


def centered_window(encoding, max_length: int, position: int) -> np.ndarray:
    """The window of at most max_length tokens with `position` (a content token) nearest its middle."""
    a, b, room = _room(encoding, max_length)
    start = min(max(position - room // 2, a), max(b - room, a))
    return _window(encoding, a, b, start, min(start + room, b))


def window_feeds(tokenizer, encoding, windows: list[np.ndarray]) -> dict[str, np.ndarray]:
    """A padded batch of windows as model inputs (padding on the tokenizer's side)."""
    ids, types = np.asarray(encoding.ids, dtype=np.int64), np.asarray(encoding.type_ids, dtype=np.int64)
    n = max(len(w) for w in windows)
    out = {"input_ids": np.full((len(windows), n), tokenizer.pad_id, dtype=np.int64),
           "attention_mask": np.zeros((len(windows), n), dtype=np.int64),
           "token_type_ids": np.zeros((len(windows), n), dtype=np.int64)}
    for i, w in enumerate(windows):
        sl = slice(0, len(w)) if tokenizer.padding_side == "right" else slice(n - len(w), n)
        out["input_ids"][i, sl] = ids[w]
        out["attention_mask"][i, sl] = 1
        out["token_type_ids"][i, sl] = types[w]
    return {k: v for k, v in out.items() if k in tokenizer.input_names}


def unpad(row: np.ndarray, length: int, padding_side: str) -> np.ndarray:
    """The first axis of one batch row without its padding."""
    return row[:length] if padding_side == "right" else row[len(row) - length:]


def stitch(encoding, windows: list[np.ndarray], outputs: list[np.ndarray]) -> np.ndarray:
    """Per-token outputs of the whole encoding: each token taken from the window where it has the most
    context on its nearer side (special tokens from the first / last window)."""
    n = len(encoding.ids)
    a, b = content_range(encoding)
    merged = np.zeros((n, *outputs[0].shape[1:]), dtype=outputs[0].dtype)
    best = np.full(n, -1, dtype=np.int64)
    for k, (w, out) in enumerate(zip(windows, outputs)):
        content = (w >= a) & (w < b)
        pos = np.nonzero(content)[0]
        if pos.size:
            margin = np.minimum(pos - pos[0], pos[-1] - pos)
            idx = w[pos]
            take = margin > best[idx]
            merged[idx[take]] = out[pos[take]]
            best[idx[take]] = margin[take]
        if k == 0:
            merged[w[w < a]] = out[np.nonzero(w < a)[0]]
        if k == len(windows) - 1:
            merged[w[w >= b]] = out[np.nonzero(w >= b)[0]]
    return merged


def batches(lengths: list[int], batch_size: int, padding_side: str) -> list[list[int]]:
    """Indices of consecutive items to run together. Right padding changes nothing for the real tokens;
    left padding shifts BERT-style absolute positions, so there only equal lengths share a batch."""
    out: list[list[int]] = []
    for i, n in enumerate(lengths):
        if out and len(out[-1]) < batch_size and (padding_side == "right" or lengths[out[-1][0]] == n):
            out[-1].append(i)
        else:
            out.append([i])
    return out
