"""One error hierarchy: every message says what was received, what was expected, and what to do."""
from __future__ import annotations

import difflib


class EdgetoolError(Exception):
    """Base of every error edgetool raises on purpose. The CLI prints it as one line, exit code 2."""

    exit_code = 2


class UsageError(EdgetoolError):
    """Bad arguments or bad input data."""


class BundleError(EdgetoolError):
    """A bundle is missing, corrupt, tampered with, or of an unknown schema."""


class EngineMissingError(EdgetoolError):
    """An inference engine or SDK is not installed."""


class UnsupportedError(EdgetoolError):
    """A valid request this tool (or the chosen target) cannot do."""


class ParityError(EdgetoolError):
    """Outputs differ from the reference beyond tolerance."""

    exit_code = 1

    def __init__(self, message: str, report: dict | None = None):
        super().__init__(message)
        self.report = report


def did_you_mean(word: str, choices) -> str:
    """' Did you mean 'x'?' or '' — for unknown names."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{match[0]}'?" if match else ""


def engine_missing(engine: str, extra: str, module: str) -> EngineMissingError:
    return EngineMissingError(
        f"{engine} is not installed (import of '{module}' failed). "
        f"Install it with: pip install 'edgetool[{extra}]'"
    )
