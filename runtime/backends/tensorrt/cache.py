"""The engine cache: a plan only loads on the GPU model and TensorRT version that built it, so
engines are cached per GPU, compute capability, TensorRT version, precision, profile and ONNX sha256."""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

# -- the engine cache -------------------------------------------------------------------------------
def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgetool" / "trt"


def _slug(text: str, limit: int = 48) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", str(text)).strip("_.")[:limit] or "unknown"


def _sm(compute_capability) -> str:
    cc = ".".join(map(str, compute_capability)) if isinstance(compute_capability, (tuple, list)) else str(compute_capability)
    return "sm" + _slug(cc.replace(".", ""))


def engine_cache_key(gpu_name: str, compute_capability, trt_version: str, precision: str, profile: dict,
                     onnx_sha256: str, *, typing: str = "weak") -> str:
    """Filename-safe and stable: a readable prefix, then a digest over every field (profile included,
    canonical JSON, so tuples and lists or key order make no difference).

    `typing` is the path that builds the engine: "weak" (builder precision flags, TensorRT 10's fp16) keeps
    the keys engines had before strong typing existed here; "strong" is named in the key and the digest."""
    canonical = json.dumps(profile, sort_keys=True, separators=(",", ":"))
    fields = [str(gpu_name), _sm(compute_capability), str(trt_version), precision, canonical, onnx_sha256]
    mode = ""
    if typing != "weak":
        fields.append(f"typing={typing}")
        mode = f"-{_slug(typing, 8)}"
    digest = hashlib.sha256("\n".join(fields).encode()).hexdigest()[:20]
    return (f"{_slug(gpu_name, 32)}-{_sm(compute_capability)}-trt{_slug(trt_version, 16)}-{_slug(precision, 8)}"
            f"{mode}-{digest}")


def find_cached_engine(cache_dir: str | Path, key: str) -> Path | None:
    path = Path(cache_dir) / f"{key}.plan"
    return path if path.is_file() and path.stat().st_size > 0 else None


def _atomic_write(path: Path, data) -> None:
    """Write then rename: a reader never sees half an engine, even with two processes building it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _recipe_note(cache_dir: Path, onnx_sha256: str, precision: str) -> Path:
    return cache_dir / f"last-{onnx_sha256[:20]}-{_slug(precision, 8)}.json"


def _last_recipe(cache_dir: Path, onnx_sha256: str, recipe: dict) -> dict | None:
    """The recipe `edgetool build` last used for this ONNX and precision (e.g. with --shapes), so the runtime
    finds an engine built with other profiles than the manifest's."""
    note = _recipe_note(cache_dir, onnx_sha256, recipe["precision"])
    try:
        last = json.loads(note.read_text())
    except (OSError, ValueError):
        return None
    return last if isinstance(last, dict) and last.get("precision") == recipe["precision"] and "profiles" in last else None
