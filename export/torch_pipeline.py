"""The baseline of `edgetool bench --against torch`: the transformers pipeline (PyTorch eager) on the
bundle's source checkpoint — what a user would run instead of edgetool."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from edgetool.runtime.errors import UnsupportedError

# The transformers-call helpers are shared with the export's end-to-end reference.
from .e2e_reference import KWARG_ADAPTERS, make_pipeline, to_transformers, transformers_call  # noqa: F401


def checkpoint_of(bundle, model_dir: str | None = None) -> Path:
    from .live_reference import source_options
    from .reference import checkpoint_dir

    opts = source_options(bundle, model_dir)
    return Path(opts.model) if opts.model else Path(checkpoint_dir(opts.reference))


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
