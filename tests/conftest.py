"""Shared fixtures: bundles are exported once per session (tiny reference models) and reused."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory):
    """bundle_dir(task, target="onnx", precision="fp32", reference=None, model=None, **extra) -> Path.

    Exports once per distinct argument set and session; tests must not modify the result
    (copy it with shutil.copytree to tamper with it)."""
    from edgetool.export.exporter import export
    from edgetool.export.options import ExportOptions

    root = tmp_path_factory.mktemp("bundles")
    cache: dict[tuple, Path] = {}

    def make(task: str, target: str = "onnx", precision: str = "fp32", reference: str | None = None,
             model: Path | None = None, **extra) -> Path:
        key = (task, target, precision, reference, str(model), tuple(sorted(extra.items())))
        if key not in cache:
            name = "-".join(str(k) for k in key[:4]).replace("/", "_") + f"-{len(cache)}"
            cache[key] = export(ExportOptions(task=task, target=target, precision=precision, reference=reference,
                                              model=model, out=root / name, quiet=True, extra=dict(extra)))
        return cache[key]

    return make


@pytest.fixture(scope="session")
def reference_dir():
    """reference_dir(name) -> the checkpoint directory of a built-in reference model."""
    from edgetool.export.reference import checkpoint_dir

    return checkpoint_dir
