"""Turning a stream of token ids into stable text increments (like transformers' TextStreamer)."""
from __future__ import annotations

from typing import Callable


class TextStream:
    """Feed token ids; `push` returns the text that became final (nothing while a multi-byte
    character is still incomplete)."""

    def __init__(self, decode: Callable[[list[int]], str]):
        self.decode, self.tokens, self.printed = decode, [], 0

    def push(self, token: int) -> str:
        self.tokens.append(int(token))
        text = self.decode(self.tokens)
        if text.endswith("\ufffd"):  # an unfinished UTF-8 sequence: wait for the next token
            return ""
        new, self.printed = text[self.printed:], len(text)
        return new

    def flush(self) -> str:
        text = self.decode(self.tokens)
        new, self.printed = text[self.printed:], len(text)
        return new
