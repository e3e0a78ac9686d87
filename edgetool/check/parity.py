"""One parity path for export, quantize and validate: open the engines of a (backend, precision) of a
bundle, compare them with a reference (a Golden: PyTorch's calls and answers, or another artifact's),
and return the report.

One rule for "skipped": an engine that is not installed or cannot run here (EngineMissingError, or
an ImportError of its SDK — e.g. TensorRT off its device) gives a skipped report with the reason and
`passed: None`. Anything else (a broken artifact, a wrong output) either passes or fails: it is raised
or reported as a failure, never hidden as "skipped".
"""
from __future__ import annotations

from typing import Callable

from edgetool.check.golden import Golden
from edgetool.check.compare import Thresholds, compare, thresholds_for
from edgetool.runtime.errors import EngineMissingError

# What "cannot run here" means, everywhere.
CANNOT_RUN_HERE = (EngineMissingError, ImportError)


def label_of(backend: str, precision: str) -> str:
    return f"{backend}/{precision}"


def pipeline_factory(bundle) -> Callable:
    """engines -> the bundle's task pipeline on those engines."""
    from edgetool.runtime.pipelines import pipeline_class
    from edgetool.runtime.tasks import get_task

    cls = pipeline_class(get_task(bundle.task))
    return lambda engines: cls(bundle, engines=engines)


class Skipped(Exception):
    """The engines of a group cannot run here; `reason` says why (the engine's own message)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def open_group(bundle, backend: str, precision: str) -> dict:
    """The engines (one per graph) of `backend` at `precision`; raises Skipped when they cannot run here."""
    from edgetool.runtime.pipelines.base import open_engines

    try:
        return open_engines(bundle, backend, precision)
    except CANNOT_RUN_HERE as e:
        raise Skipped(str(e)) from None


def skipped_report(label: str, precision: str, reason: str, reference: str | None = None) -> dict:
    report = {"artifact": label, "precision": precision, "skipped": reason, "passed": None}
    if reference is not None:
        report["reference"] = reference
    return report


def check(bundle, reference: Golden, backend: str, precision: str, *, reference_label: str,
          thresholds: Thresholds | None = None, factory: Callable | None = None) -> dict:
    """(backend, precision) of `bundle` against `reference`: a parity report, or a skipped one."""
    label = label_of(backend, precision)
    try:
        engines = open_group(bundle, backend, precision)
    except Skipped as s:
        return skipped_report(label, precision, s.reason, reference_label)
    report = compare(reference, engines, factory or pipeline_factory(bundle), bundle.task, precision,
                     thresholds or thresholds_for(bundle.task, precision), label)
    report["reference"] = reference_label
    return report


def check_groups(bundle, reference: Golden, groups, *, reference_label: str) -> dict[str, dict]:
    """check() for each (backend, precision), with the registry's thresholds; label -> report."""
    factory = pipeline_factory(bundle)
    return {label_of(b, p): check(bundle, reference, b, p, reference_label=reference_label, factory=factory)
            for b, p in groups}
