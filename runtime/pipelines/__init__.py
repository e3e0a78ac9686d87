"""Task pipelines; the registry (runtime/tasks.py) names each one as 'module:Class'."""
from __future__ import annotations

import importlib

from ..errors import UnsupportedError
from ..tasks import TaskSpec


def pipeline_class(spec: TaskSpec):
    if spec.pipeline is None:  # not spec.implemented
        raise UnsupportedError(
            f"Task '{spec.name}' is registered but not implemented yet. See `edgetool tasks` for what works today."
        )
    module, cls = spec.pipeline.split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)
