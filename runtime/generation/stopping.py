"""Stop strings: transformers 4.57's StopStringCriteria, on the tokens' texts instead of tensors.

A row stops when the text of its last tokens holds a stop string that overlaps the last token: the
string ends inside (or at the end of) the last token's text, wherever it starts. So ["st", "op"],
["stop"], ["las", "topper"] and ["xstopy"] stop at "stop"; ["stop", "at"] does not (the string was
already complete a token earlier, when generation would have stopped). Token texts are what the
tokenizer's decoder makes of each token alone (no "Ġ" or "▁" markers), as transformers computes them;
the stop string stays in the output.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


class StopStrings:
    """`criteria(ids) -> bool [rows]`: which rows end with one of `stop_strings` (see the module doc).
    `token_text(id) -> str` gives one token's text; it is asked only for the last tokens of each row."""

    def __init__(self, stop_strings: Sequence[str], token_text: Callable[[int], str]):
        self.stop_strings = tuple(stop_strings)
        self.token_text = token_text
        # a token holds at least one character, so the longest string spans at most that many tokens
        self.window = max(len(s) for s in self.stop_strings)
        self._texts: dict[int, str] = {}

    def _text(self, token: int) -> str:
        text = self._texts.get(token)
        if text is None:
            text = self._texts[token] = self.token_text(token)
        return text

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        done = np.zeros(ids.shape[0], dtype=bool)
        for row, seq in enumerate(ids[:, -self.window:].tolist()):
            texts = [self._text(t) for t in seq]
            text = "".join(texts)
            last_start = len(text) - len(texts[-1])
            done[row] = any(s in text[max(0, last_start - len(s) + 1):] for s in self.stop_strings)
        return done

    def __repr__(self) -> str:
        return f"StopStrings({list(self.stop_strings)!r})"
