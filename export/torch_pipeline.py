"""The baseline of `edgetool bench --against torch`: the transformers pipeline (PyTorch eager) on the
bundle's source checkpoint — what a user would run instead of edgetool."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from edgetool.runtime.errors import UnsupportedError


def checkpoint_of(bundle, model_dir: str | None = None) -> Path:
    from .live_reference import source_options
    from .reference import checkpoint_dir

    opts = source_options(bundle, model_dir)
    return Path(opts.model) if opts.model else Path(checkpoint_dir(opts.reference))


def to_transformers(value):
    """Our pipeline inputs as the transformers pipelines take them (HxWx3 arrays -> PIL images)."""
    if isinstance(value, list):
        return [to_transformers(v) for v in value]
    if isinstance(value, np.ndarray) and value.ndim == 3 and value.dtype == np.uint8:
        from PIL import Image

        return Image.fromarray(value)
    return value


def _nest_generation_kwargs(kwargs: dict) -> dict:
    """transformers' image-to-text pipeline takes only max_new_tokens itself; the rest of generate's
    options (do_sample, num_beams, ...) go in generate_kwargs. Our runtime takes both forms."""
    top = {k: v for k, v in kwargs.items() if k in ("max_new_tokens", "generate_kwargs", "timeout")}
    rest = {k: v for k, v in kwargs.items() if k not in top}
    if rest:
        top["generate_kwargs"] = {**rest, **top.get("generate_kwargs", {})}
    return top


# task -> how our pipeline's keyword arguments become the transformers pipeline's.
KWARG_ADAPTERS = {"image-to-text": _nest_generation_kwargs}


def transformers_call(task: str, sample) -> tuple[list, dict]:
    """(args, kwargs) of the transformers pipeline call for one of our bench/golden samples."""
    kwargs = {k: to_transformers(v) for k, v in sample.kwargs.items()}
    return [to_transformers(a) for a in sample.args], KWARG_ADAPTERS.get(task, dict)(kwargs)


def make_pipeline(task: str, ckpt: Path, threads: int | None = None):
    import torch
    from transformers import pipeline

    if threads:
        torch.set_num_threads(threads)
    return pipeline(task, model=str(ckpt), device="cpu")


def torch_factory(bundle, sample, opts):
    """(call, cold_start(sample_path) -> dict, size_mb) for runtime.bench.run_bench."""
    from .compat import transformers_pipeline_available

    ckpt = checkpoint_of(bundle, opts.model)
    if not transformers_pipeline_available(bundle.task):
        import transformers

        raise UnsupportedError(f"transformers {transformers.__version__} has no '{bundle.task}' pipeline (transformers 5 "
                               "removed several) to bench against; run `bench --against torch` where transformers 4.57 "
                               "is installed, or bench without --against.")
    try:
        pipe = make_pipeline(bundle.task, ckpt, opts.threads)
    except Exception as e:  # noqa: BLE001 - transformers raises many types for unsupported setups
        raise UnsupportedError(f"transformers.pipeline('{bundle.task}') could not load {ckpt}: {e}") from None
    args, kwargs = transformers_call(bundle.task, sample)
    call = lambda: pipe(*args, **kwargs)  # noqa: E731
    try:
        call()
    except Exception as e:  # noqa: BLE001
        raise UnsupportedError(f"transformers pipeline failed on the bench input: {type(e).__name__}: {e}") from None
    weights = [p for p in ckpt.iterdir() if p.suffix in (".safetensors", ".bin")]
    size = sum(p.stat().st_size for p in weights) / 1e6

    def cold(sample_path) -> dict:
        from edgetool.bench.measure import child_env, run_child

        spec = {"task": bundle.task, "ckpt": str(ckpt), "threads": opts.threads, "sample": str(sample_path)}
        return run_child([sys.executable, "-c", _CHILD, json.dumps(spec)], child_env(opts.threads))

    return call, cold, size


_CHILD = r"""
import time
t0 = time.perf_counter()
import json, sys
from transformers import pipeline
t_import = time.perf_counter()
from edgetool.bench.measure import peak_rss_mb, read_sample
from edgetool.export.torch_pipeline import transformers_call
spec = json.loads(sys.argv[1])
sample = read_sample(spec["sample"])
args, kwargs = transformers_call(spec["task"], sample)
if spec["threads"]:
    import torch
    torch.set_num_threads(spec["threads"])
t1 = time.perf_counter()
pipe = pipeline(spec["task"], model=spec["ckpt"], device="cpu")
t_load = time.perf_counter()
pipe(*args, **kwargs)
t_first = time.perf_counter()
for _ in range(3):
    pipe(*args, **kwargs)
print(json.dumps({"import_s": t_import - t0, "load_s": t_load - t1, "first_s": t_first - t_load,
                  "cold_start_s": (t_import - t0) + (t_first - t1),
                  "peak_rss_mb": peak_rss_mb()}))
"""
