"""Built-in reference models: seeded, deterministic, built from configs in code, cached on disk.

The models are declared on their family adapters (export/families); the modules here hold the builders.

Each builder writes a Hugging Face checkpoint directory (config.json, model.safetensors, tokenizer
files), so reference models and users' checkpoints go through one loading path.
"""
from __future__ import annotations

import hashlib
import os
import re
import sys
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


# Bump to rebuild every cached checkpoint; a change to one builder's module rebuilds only its
# models anyway (the cache name carries a hash of that module's source).
REFERENCE_VERSION = 2


@dataclass(frozen=True)
class Reference:
    name: str
    task: str
    family: str
    build: Callable[[Path, int], None]


def define_builders(namespace: dict, names, build: Callable[[str, Path, int], None]) -> None:
    """A module-level `build_<name>(out, seed)` per model name, for builder modules with one generic
    `build(name, out, seed)` (family adapters name their builders by module attribute)."""
    for name in names:
        def build_one(out: Path, seed: int, _name: str = name) -> None:
            build(_name, out, seed)

        build_one.__name__ = build_one.__qualname__ = "build_" + name.replace("-", "_")
        namespace[build_one.__name__] = build_one


def get_reference(name: str) -> Reference:
    """A built-in reference model, found through the family adapter that declares it."""
    from edgetool.export.families import find_reference, reference_builder

    adapter, ref = find_reference(name)
    return Reference(ref.name, adapter.task, adapter.family, reference_builder(ref))


def cache_root() -> Path:
    return Path(os.environ.get("EDGETOOL_CACHE", Path.home() / ".cache" / "edgetool"))


def _source_hash(ref: Reference) -> str:
    """Short hash of the builder's module source, of the sibling modules it imports (`from .x import`,
    transitively) and of the frozen tokenizer vocabularies: editing any of them must not reuse a stale
    checkpoint."""
    package = Path(__file__).parent
    todo, seen = [Path(sys.modules[ref.build.__module__].__file__)], set()
    digest = hashlib.sha256()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        source = path.read_text(encoding="utf-8")
        digest.update(source.encode())
        todo += [package / f"{name}.py" for name in re.findall(r"^\s*from \.(\w+) import", source, re.M)]
    if package / "tokenizers_train.py" in seen:
        for asset in sorted((package / "assets").iterdir()):
            digest.update(asset.read_bytes())
    return digest.hexdigest()[:8]


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
