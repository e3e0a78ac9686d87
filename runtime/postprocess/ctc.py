"""Greedy CTC decoding with character / word offsets, as Wav2Vec2CTCTokenizer.decode(output_char_offsets=True)
and the transformers ASR pipeline's `return_timestamps="char"|"word"` (frames -> seconds via the model's
samples-per-frame ratio), plus its stride arithmetic for chunked long audio."""
from __future__ import annotations

import numpy as np


def ctc_decode(ids, vocab: dict[int, str], ctc: dict, offsets: bool = True) -> tuple[str, list[dict]]:
    """-> (text, char offsets [{"char", "start_offset", "end_offset"}] in frames, [] unless `offsets`).
    Repeats collapse, blanks (the pad token) drop, the word delimiter becomes replace_word_delimiter_char."""
    ids = np.asarray(ids).reshape(-1)
    if ids.size == 0:
        return "", []
    pad, delim = ctc["pad_token"], ctc["word_delimiter_token"]
    space = ctc.get("replace_word_delimiter_char", " ")
    # Runs of equal ids in NumPy (an hour is ~10^5-10^6 frames); Python objects only for emitted characters.
    starts = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
    ends = np.append(starts[1:], ids.size)
    table = np.array([vocab.get(i, "") for i in range(max(vocab) + 1)], dtype=object)
    tokens = table[ids[starts]]
    keep = np.flatnonzero(tokens != pad)
    chars = tokens[keep]
    chars[chars == delim] = space
    text = "".join(chars.tolist()).strip()
    spans = [{"char": c, "start_offset": s, "end_offset": e}
             for c, s, e in zip(chars.tolist(), starts[keep].tolist(), ends[keep].tolist())] if offsets else []
    return (text.lower() if ctc.get("do_lower_case") else text), spans


def word_offsets(chars: list[dict], space: str = " ") -> list[dict]:
    """Wav2Vec2CTCTokenizer._get_word_offsets: runs of non-delimiter characters -> words with their span."""
    words, last, word, start, end = [], "SPACE", "", 0, 0
    for o in chars:
        state = "SPACE" if o["char"] == space else "WORD"
        if state == last:
            end, word = o["end_offset"], word + o["char"]
        elif state == "SPACE":
            words.append({"word": word, "start_offset": start, "end_offset": end})
        else:
            start, end, word = o["start_offset"], o["end_offset"], o["char"]
        last = state
    if last == "WORD":
        words.append({"word": word, "start_offset": start, "end_offset": end})
    return words


def timestamp_chunks(chars: list[dict], kind: str, ratio: int, rate: int, space: str = " ") -> list[dict]:
    """The pipeline's "chunks": [{"text", "timestamp": (start s, end s)}] per character or word."""
    items, key = (chars, "char") if kind == "char" else (word_offsets(chars, space), "word")
    return [{"text": o[key], "timestamp": (o["start_offset"] * ratio / rate, o["end_offset"] * ratio / rate)}
            for o in items]


def frames_kept(n_samples: int, stride_left: int, stride_right: int, ratio: int) -> slice:
    """transformers' rescale_stride + postprocess cut: the logits frames of a chunk that are not overlap."""
    n = int(round(n_samples / ratio))
    left = int(round(stride_left / n_samples * n))
    right = int(round(stride_right / n_samples * n))
    return slice(left, n - right)
