"""Built-in reference models: seeded, deterministic, built from configs in code, cached on disk.

Each builder writes a Hugging Face checkpoint directory (config.json, model.safetensors, tokenizer
files), so reference models and users' checkpoints go through one loading path.
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import os
import sys
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edgetool.runtime.errors import UsageError, did_you_mean

# Bump to rebuild every cached checkpoint; a change to one builder's module rebuilds only its
# models anyway (the cache name carries a hash of that module's source).
REFERENCE_VERSION = 2


@dataclass(frozen=True)
class Reference:
    name: str
    task: str
    build: Callable[[Path, int], None]


REFERENCES: dict[str, Reference] = {}
# Modules that register references; imported on first use.
_MODULES = ("text", "text_tasks", "generation", "audio", "vision", "detection", "dense")


def reference(name: str, task: str):
    def register(fn):
        REFERENCES[name] = Reference(name, task, fn)
        return fn
    return register


def _load_all() -> None:
    for m in _MODULES:
        importlib.import_module(f"{__name__}.{m}")


def references_for(task: str) -> list[Reference]:
    _load_all()
    return [r for r in REFERENCES.values() if r.task == task]


def get_reference(name: str) -> Reference:
    _load_all()
    if name not in REFERENCES:
        raise UsageError(f"Unknown reference model '{name}'.{did_you_mean(name, REFERENCES)} Known: {', '.join(sorted(REFERENCES))}")
    return REFERENCES[name]


def cache_root() -> Path:
    return Path(os.environ.get("EDGETOOL_CACHE", Path.home() / ".cache" / "edgetool"))


def _source_hash(ref: Reference) -> str:
    """Short hash of the builder's module source: editing a builder must not reuse a stale checkpoint."""
    source = inspect.getsource(sys.modules[ref.build.__module__])
    return hashlib.sha256(source.encode()).hexdigest()[:8]


def checkpoint_dir(name: str, seed: int = 0) -> Path:
    """Build (once) and return the checkpoint directory of a reference model."""
    ref = get_reference(name)
    target = cache_root() / "reference" / f"{name}-v{REFERENCE_VERSION}-{_source_hash(ref)}-seed{seed}"
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        ref.build(tmp, seed)
        try:
            tmp.rename(target)
        except OSError:  # built concurrently by another process: theirs is identical
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
