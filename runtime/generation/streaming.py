"""From a stream of token ids to text increments that never change once shown.

Decoding token by token is wrong for byte-level BPE (a character may span tokens) and for word-piece
decoders (a token may glue to the previous word). So, like transformers' TextStreamer, the whole
pending run of tokens is decoded again at each step, and text is released only up to the last space
(a word can no longer change), at once for CJK characters, and entirely at a newline or at the end.
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator

import numpy as np

from ..errors import UsageError


class TextStream:
    """Feed token ids with push(); each call returns the text that became final ("" if none yet);
    flush() returns the rest. Everything returned, joined, is the decoded text (decoded line by line)."""

    def __init__(self, decode: Callable[[list[int]], str]):
        self.decode = decode
        self.tokens: list[int] = []
        self.printed = 0  # characters of decode(self.tokens) already returned

    def push(self, token) -> str:
        self.tokens.extend(int(t) for t in np.atleast_1d(token))
        text = self.decode(self.tokens)
        if text.endswith("\n"):  # a line is final: start afresh (keeps re-decoding short)
            new = text[self.printed:]
            self.tokens, self.printed = [], 0
            return new
        if text and _is_cjk(text[-1]):
            end = len(text)
        else:
            end = text.rfind(" ") + 1
        new = text[self.printed:end] if end > self.printed else ""
        self.printed += len(new)
        return new

    def flush(self) -> str:
        text = self.decode(self.tokens) if self.tokens else ""
        new = text[self.printed:]
        self.tokens, self.printed = [], 0
        return new


class TextStreamer:
    """A streamer for generate(streamer=...): one row's tokens in, final text out through `on_text`
    (called with "" never; with stream_end=True once at the end). Like transformers' TextStreamer
    with skip_prompt=True: generate() only ever sends new tokens. Showing the text is the caller's
    job (the runtime writes nothing to the terminal): without `on_text` the pieces collect in `pieces`."""

    def __init__(self, decode: Callable[[list[int]], str], on_text: Callable[..., None] | None = None):
        self.stream = TextStream(decode)
        self.pieces: list[str] = []
        self.on_text = on_text or (lambda text, stream_end=False: self.pieces.append(text))

    def put(self, tokens) -> None:
        tokens = np.asarray(tokens)
        if tokens.size != 1:
            raise UsageError(f"TextStreamer shows one sequence; got {tokens.size} rows per step. "
                             "Stream one prompt at a time (and num_return_sequences=1).")
        text = self.stream.push(int(tokens.reshape(-1)[0]))
        if text:
            self.on_text(text)

    def end(self) -> None:
        self.on_text(self.stream.flush(), stream_end=True)


def stream_text(tokens: Iterable, decode: Callable[[list[int]], str], row: int = 0) -> Iterator[str]:
    """Text increments of one row of a token stream (e.g. stream_generate(...)); empty ones are skipped."""
    stream = TextStream(decode)
    for step in tokens:
        text = stream.push(int(np.atleast_1d(step)[row]))
        if text:
            yield text
    rest = stream.flush()
    if rest:
        yield rest


def _is_cjk(ch: str) -> bool:
    """The CJK blocks transformers' TextStreamer treats as words on their own."""
    cp = ord(ch)
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)
