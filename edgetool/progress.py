"""Step progress on stderr for long commands (export, quantize, bench); silent when quiet."""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager


_TERMINALS: list = []  # the user's stderr while library output is redirected to a log (export/log.py)


def terminal():
    """Where edgetool's own messages for the user go (warnings, tables): stderr, even while a command
    sends the libraries' output to its log."""
    return _TERMINALS[-1] if _TERMINALS else sys.stderr


class Steps:
    def __init__(self, total: int, quiet: bool = False, stream=None):
        self.total, self.quiet, self.n = total, quiet, 0
        self.stream = stream or sys.stderr
        self.timings: dict[str, float] = {}

    @contextmanager
    def step(self, label: str):
        self.n += 1
        if not self.quiet:
            print(f"[{self.n}/{self.total}] {label} …", end="", file=self.stream, flush=True)
        t0 = time.perf_counter()
        try:
            yield
        except BaseException:
            if not self.quiet:
                print(" failed", file=self.stream, flush=True)
            raise
        dt = time.perf_counter() - t0
        self.timings[label] = round(dt, 3)
        if not self.quiet:
            print(f" {dt:.1f}s", file=self.stream, flush=True)

    def bar(self, iterable, label: str, total: int | None = None):
        """A progress bar over an iterable (tqdm when installed, plain otherwise)."""
        if self.quiet:
            return iterable
        try:
            from tqdm import tqdm
        except ImportError:
            return iterable
        return tqdm(iterable, desc=label, total=total, file=self.stream, leave=False)
