"""Export recipes: per task, how to load the model, which graphs to trace, what the device needs.

A recipe is the export-side half of a task (the runtime half is its pipeline). Registered with
@recipe in the modules listed in _MODULES; `get_recipe` imports them on first use.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edgetool.runtime.errors import UnsupportedError
from edgetool.check.golden import Sample
from edgetool.runtime.tasks import get_task


@dataclass(frozen=True)
class Recipe:
    task: str
    auto_class: object  # transformers Auto class name, or config -> name when a task has several families
    references: tuple[str, ...]  # built-in reference models; the first is the default
    graphs: Callable  # (source, options) -> list[GraphExport]
    manifest: Callable  # (source) -> {"processing": {...}, "labels": {...}, "generation": {...}}
    samples: Callable  # (source) -> list[Sample]: golden inputs recorded at export
    files: Callable  # (source, staging_dir) -> list[str]: extra files written (tokenizer.json, ...)
    # "eager" traces everywhere with TorchScript; None lets transformers pick (sdpa), which the dynamo
    # exporter needs for BART-style eager attention with dynamic shapes.
    attn_implementation: str | None = "eager"


RECIPES: dict[str, Recipe] = {}
_MODULES = ("text", "text_tasks", "generation", "vision", "audio", "detection", "dense")


def recipe(r: Recipe) -> Recipe:
    RECIPES[r.task] = r
    return r


def _load_all() -> None:
    for m in _MODULES:
        importlib.import_module(f"{__name__}.{m}")


def get_recipe(task: str) -> Recipe:
    spec = get_task(task)
    _load_all()
    if spec.name not in RECIPES:
        raise UnsupportedError(
            f"Exporting task '{spec.name}' is not implemented yet. `edgetool tasks` lists the tasks that work today."
        )
    return RECIPES[spec.name]


def implemented_tasks() -> list[str]:
    _load_all()
    return sorted(RECIPES)


__all__ = ["Recipe", "RECIPES", "recipe", "get_recipe", "implemented_tasks", "Sample", "Path"]
