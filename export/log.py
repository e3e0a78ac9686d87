"""The export log: what torch, transformers, ONNX, NNCF and friends say while a bundle is made.

The terminal shows edgetool's steps only; the libraries' warnings, log records and prints go to
`export.log` in the bundle (hashed like every other file). When an export fails, the log is kept
outside the removed staging directory and the error names it, with the exporter's root cause.
"""
from __future__ import annotations

import io
import logging
import shutil
import sys
import tempfile
import traceback
import warnings
from contextlib import contextmanager
from pathlib import Path

from edgetool.progress import _TERMINALS

LOG_NAME = "export.log"


class ExportLog:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 — open for the whole export

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def write(self, text: str) -> None:
        self._file.write(text if text.endswith("\n") else text + "\n")
        self._file.flush()

    @contextmanager
    def capture(self, label: str):
        """Within: Python warnings, logging records and writes to sys.stdout/sys.stderr go to the log.
        (Output that C++ code writes straight to the file descriptors is not caught.)"""
        self.write(f"== {label}")
        log = _Unclosable(self._file)
        handler = logging.StreamHandler(log)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        # libraries that set up their own console handler (transformers, nncf): point them at the log too
        redirected = [(h, h.stream) for h in _console_handlers()]
        old_out, old_err = sys.stdout, sys.stderr
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = lambda msg, cat, fn, line, file=None, text=None: log.write(
                warnings.formatwarning(msg, cat, fn, line, text))
            root.addHandler(handler)
            for h, _ in redirected:
                _set_stream(h, log)
            _TERMINALS.append(old_err)
            sys.stdout = sys.stderr = log
            try:
                yield self
            except BaseException as e:
                self.write("".join(traceback.format_exception(type(e), e, e.__traceback__)))
                raise
            finally:
                sys.stdout, sys.stderr = old_out, old_err
                _TERMINALS.pop()
                for h, stream in redirected:
                    _set_stream(h, stream)
                for h in _console_handlers():  # made meanwhile from the swapped sys.stderr (transformers' is lazy)
                    if h.stream is log:
                        _set_stream(h, old_err)
                root.removeHandler(handler)
                log.flush()

    @contextmanager
    def step(self, steps, label: str):
        """The step's line on the terminal (edgetool.progress.Steps), the libraries' output in the log."""
        with steps.step(label), self.capture(label):
            yield

    def keep_outside(self, name: str) -> Path:
        """A copy of the log where a failed export's staging directory is not (it is removed)."""
        self.close()
        kept = Path(tempfile.gettempdir()) / f"edgetool-export-{name}.log"
        shutil.copyfile(self.path, kept)
        return kept


class _Unclosable(io.TextIOBase):
    """The log as libraries see it (sys.stdout/stderr, their console handlers): some close the stream they
    were handed (torch's logging does); the log is closed by its owner only."""

    def __init__(self, file):
        self._file = file

    def write(self, text: str) -> int:
        return self._file.write(text)

    def flush(self) -> None:
        self._file.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return "utf-8"

    def close(self) -> None:
        pass


def _set_stream(handler: logging.StreamHandler, stream) -> None:
    """setStream() without its flush of the old stream, which may be closed (a finished test runner's)."""
    handler.acquire()
    try:
        handler.stream = stream
    finally:
        handler.release()


def _console_handlers() -> list[logging.StreamHandler]:
    """Stream handlers (not files) that libraries attached to their loggers: torch's, transformers', nncf's
    console handlers hold the stderr of when they were made, so swapping sys.stderr alone misses them."""
    loggers = [logging.getLogger()] + [lg for lg in logging.Logger.manager.loggerDict.values()
                                       if isinstance(lg, logging.Logger)]
    return [h for lg in loggers for h in lg.handlers
            if type(h) is logging.StreamHandler  # subclasses (files, torch's trace handler) own their streams
            and not isinstance(getattr(h, "stream", None), io.StringIO)]  # in-memory: someone's capture


def root_cause(e: BaseException) -> str:
    """The first line of the innermost cause: the exporters wrap the failing op or shape constraint in
    several layers of 'this is step 1/3 ... next steps' text."""
    seen = set()
    while (e.__cause__ or e.__context__) is not None and id(e) not in seen:
        seen.add(id(e))
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return f"{type(e).__name__}: {lines[0][:300] if lines else '(no message)'}"
