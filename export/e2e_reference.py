"""The end-to-end reference of an export: `transformers.pipeline` on the bundle's golden samples, with the
same checkpoint and processor files the bundle was made from and the same call options. Its answers are
stored in the golden file ("e2e") and every artifact's runtime answers are compared with them
(edgetool.check.answers), at export and by `edgetool validate` on the device (no torch there).

Three outcomes, recorded as the e2e "status":
- "ok": the answers, one per sample;
- "no-pipeline": the installed transformers has no pipeline for the task (multiple-choice);
- "bad-reference": the transformers pipeline could not load the checkpoint or raised on a sample. That is
  a problem of the reference, reported as such, not a parity failure of the bundle.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgetool.check.answers import SKIPPED
from edgetool.check.golden import Sample, to_jsonable


def _plain(obj):
    """transformers answers as JSON values (torch tensors -> lists, PIL images -> PNG, numpy -> numbers)."""
    if hasattr(obj, "detach") and hasattr(obj, "numpy"):
        return obj.detach().cpu().numpy().tolist()
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return to_jsonable(obj) if isinstance(obj, (np.ndarray, np.generic)) or hasattr(obj, "mode") else obj


# Options of our pipelines that transformers' pipeline for the task does not have: a sample that uses
# them has no transformers answer (it is marked and skipped, not compared).
RUNTIME_ONLY_OPTIONS = {"feature-extraction": ("pooling", "normalize")}


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


def source(task: str) -> str:
    import transformers

    return f"transformers {transformers.__version__} pipeline('{task}')"


def has_pipeline(task: str) -> bool:
    from transformers.pipelines import SUPPORTED_TASKS

    return task in SUPPORTED_TASKS


def pipeline_reference(task: str, checkpoint: Path, samples: list[Sample], not_for_family: str | None = None) -> dict:
    """{"status", "source", "results" | "reason"} for the golden file. `not_for_family`: why the family's
    answers are not compared with the transformers pipeline (Adapter.no_pipeline_reference)."""
    src = source(task)
    if not_for_family:
        return {"status": "no-pipeline", "source": src, "reason": not_for_family}
    if not has_pipeline(task):
        return {"status": "no-pipeline", "source": src,
                "reason": f"the installed transformers has no '{task}' pipeline; the answers are checked against "
                          "PyTorch through the golden tensors and task metric only"}
    import transformers

    level = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # "Device set to use cpu" and load notices are not the export's
    try:
        return _run(task, checkpoint, samples, src)
    finally:
        transformers.logging.set_verbosity(level)


def _run(task, checkpoint, samples, src) -> dict:
    try:
        pipe = make_pipeline(task, Path(checkpoint))
    except Exception as e:  # noqa: BLE001 - transformers raises many types for checkpoints it cannot load
        return {"status": "bad-reference", "source": src,
                "reason": f"transformers.pipeline('{task}') could not load {checkpoint}: {type(e).__name__}: {e}"}
    results = []
    for i, sample in enumerate(samples):
        ours = sorted(set(sample.kwargs) & set(RUNTIME_ONLY_OPTIONS.get(task, ())))
        if ours:
            results.append({SKIPPED: f"edgetool-only option(s) {', '.join(ours)}"})
            continue
        args, kwargs = transformers_call(task, sample)
        try:
            results.append(_plain(pipe(*args, **kwargs)))
        except Exception as e:  # noqa: BLE001
            return {"status": "bad-reference", "source": src,
                    "reason": f"the transformers pipeline raised on golden sample {i}: {type(e).__name__}: {e}"}
    return {"status": "ok", "source": src, "results": results}
