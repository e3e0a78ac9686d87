"""Accuracy report: each (backend, precision) of a bundle against the fp32 ONNX Runtime artifact,
with the task's metric (runtime.validate.compare, thresholds per precision from the task registry),
plus size and latency — stored in the manifest under "accuracy" and shown as a table."""
from __future__ import annotations

import time

from edgetool.check import parity
from edgetool.runtime.errors import ParityError
from edgetool.check.golden import Golden, Sample, record
from edgetool.runtime.pipelines import pipeline_class
from edgetool.runtime.pipelines.base import open_engines
from edgetool.runtime.tasks import get_task
from edgetool.check.compare import compare, thresholds_for

REFERENCE = ("onnxruntime", "fp32")


class AccuracyDropError(ParityError):
    """A quantized artifact loses more of the task metric than --max-metric-drop allows."""


def _factory(bundle):
    cls = pipeline_class(get_task(bundle.task))
    return lambda engines: cls(bundle, engines=engines)


def reference(bundle, samples: list[Sample]) -> Golden:
    """The fp32 ONNX Runtime pipeline's results (and engine calls) on the evaluation samples."""
    return record(_factory(bundle), open_engines(bundle, *REFERENCE), samples)


def _latency_ms(pipe_factory, engines, samples: list[Sample], repeats: int = 1) -> float:
    pipe = pipe_factory(engines)
    pipe(*samples[0].args, **samples[0].kwargs)  # warm-up (first-call allocations)
    t0 = time.perf_counter()
    for _ in range(repeats):
        for s in samples:
            pipe(*s.args, **s.kwargs)
    return 1000.0 * (time.perf_counter() - t0) / (repeats * len(samples))


def size_mb(bundle, backend: str, precision: str) -> float:
    from edgetool.runtime.backends import backend_class

    cls = backend_class(backend)
    chosen = bundle.select(cls.formats, precision, cls.name)
    return sum((bundle.root / f).stat().st_size for a in chosen.values() for f in a.files) / 1e6


def _through_cache(bundle, engines: dict):
    """For an artifact whose fused decoder keeps an int8 KV cache (quantize/kv_cache.py), which acts only through
    the cache: (ids, prompt) -> the logits of positions prompt-1 .. len(ids)-1, the prompt in one step and then
    one token a step, as generation feeds it. None for other artifacts (one pass, no cache, says all)."""
    import numpy as np

    from edgetool.runtime.generation.step_models import FusedDecoderModel
    from edgetool.runtime.names import ATTENTION_MASK, FUSED_DECODER

    art = getattr(engines.get(FUSED_DECODER), "artifact", None)
    if art is None or art.options.get("kv_cache") != "int8":
        return None
    model = FusedDecoderModel(lambda graph, feeds: engines[graph].run(feeds), bundle.graph_spec(art), portable=None)

    def logits(ids: np.ndarray, prompt: int) -> np.ndarray:
        state = model.start({ATTENTION_MASK: np.ones((1, prompt), np.int64)})
        rows = [np.array(model.step(state, ids[None, :prompt])[0])]
        rows += [np.array(model.step(state, ids[None, k:k + 1])[0]) for k in range(prompt, len(ids))]
        return np.stack(rows)

    return logits


def teacher_forced(bundle, ref: Golden, engines: dict, graph: str = "decoder") -> dict | None:
    """Decoder LLMs: each golden sample's token sequence (its prompt and the tokens fp32 generated, as fed
    to the decoder) run in one pass, no cache, through the fp32 ONNX Runtime graph and the candidate;
    per position, whether the top-1 token agrees and the cosine of the logits. A candidate with an int8 KV
    cache runs the sequence step by step through its cache instead, from the prompt's last position on.
    None for other graphs."""
    import numpy as np

    from edgetool.runtime.generation.step_models import position_ids
    from edgetool.runtime.names import ATTENTION_MASK, INPUT_IDS, LOGITS, PAST_PREFIX, POSITION_IDS

    if graph not in engines:
        return None
    reference_engines = None
    cached = _through_cache(bundle, engines)
    agree: list[np.ndarray] = []
    cosines: list[np.ndarray] = []
    for calls in ref.calls:
        steps = [c for c in calls if c.graph == graph]
        if not steps or INPUT_IDS not in steps[0].feeds or ATTENTION_MASK not in steps[0].feeds:
            return None
        first = steps[0].feeds
        ids = np.concatenate([c.feeds[INPUT_IDS][:1] for c in steps], axis=1)
        mask = np.concatenate([first[ATTENTION_MASK][:1, :first[INPUT_IDS].shape[1]],
                               np.ones((1, ids.shape[1] - first[INPUT_IDS].shape[1]), np.int64)], axis=1)
        feeds = {INPUT_IDS: ids, ATTENTION_MASK: mask}
        if POSITION_IDS in first:
            feeds[POSITION_IDS] = position_ids(mask, ids.shape[1])
        feeds.update({k: v[:1] for k, v in first.items() if k.startswith(PAST_PREFIX)})
        if reference_engines is None:
            reference_engines = open_engines(bundle, *REFERENCE)
        a = reference_engines[graph].run(feeds)[LOGITS][0].astype(np.float64)
        real = mask[0] == 1
        if cached is not None:  # the prompt's real tokens, then the generated ones
            prompt = int(first[ATTENTION_MASK][0, :first[INPUT_IDS].shape[1]].sum())
            a, b = a[real][prompt - 1:], cached(ids[0][real], prompt).astype(np.float64)
        else:
            b = engines[graph].run(feeds)[LOGITS][0].astype(np.float64)
            a, b = a[real], b[real]
        agree.append(a.argmax(-1) == b.argmax(-1))
        cosines.append((a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-30))
    if not agree:
        return None
    every = np.concatenate(cosines)
    return {"top1_agreement": float(np.concatenate(agree).mean()), "logits_cosine": float(every.mean()),
            "logits_cosine_min": float(every.min()), "positions": int(every.size),
            **({"through": "int8 KV cache, step by step"} if cached is not None else {})}


def evaluate(bundle, ref: Golden, backend: str, precision: str) -> dict:
    """One row: metric against fp32, drop, tensor error, size, latency (None where it cannot run here)."""
    label = f"{backend}/{precision}"
    factory = _factory(bundle)
    try:
        engines = parity.open_group(bundle, backend, precision)
    except parity.Skipped as s:  # the one rule for "cannot run here" (edgetool.check.parity)
        return {"artifact": label, "backend": backend, "precision": precision, "skipped": s.reason.splitlines()[0]}
    report = compare(ref, engines, factory, bundle.task, precision, thresholds_for(bundle.task, precision), label)
    value = report["metric"]["value"]
    worst = max((o.get("max_abs", 0.0) for o in report["outputs"]), default=0.0)
    cosine = min((o.get("cosine", 1.0) for o in report["outputs"]), default=1.0)
    row = {"artifact": label, "backend": backend, "precision": precision, "metric": report["metric"]["name"],
           "value": value, "drop": max(0.0, 1.0 - value), "floor": report["metric"]["floor"],
           "max_abs": worst, "min_cosine": cosine, "size_mb": round(size_mb(bundle, backend, precision), 3),
           "latency_ms": round(_latency_ms(factory, engines, ref.samples), 3), "samples": len(ref.samples),
           "passed": report["passed"]}
    forced = teacher_forced(bundle, ref, engines) if bundle.task == "text-generation" else None
    if forced is not None:
        # A decoder is judged per step, not by whole sequences (one flipped near-tie changes all that follows):
        # the drop (--max-metric-drop, --fallback, the INT8 floor) is 1 - teacher-forced top-1 agreement.
        row.update(sequence_equality=value, metric="teacher_forced_top1", value=forced["top1_agreement"],
                   drop=max(0.0, 1.0 - forced["top1_agreement"]), teacher_forced=forced)
    return row


def _batches(accuracy: dict) -> str:
    n = (accuracy.get("samples") or 0) - (accuracy.get("golden") or 0) - (accuracy.get("held_out") or 0)
    return f" + {n} batch call(s) of them" if n > 0 else ""


def format_table(accuracy: dict) -> str:
    rows = accuracy.get("rows", {})
    ref = accuracy.get("reference", "onnxruntime/fp32")
    lines = [f"accuracy vs {ref} on {accuracy.get('samples', '?')} samples "
             f"({accuracy.get('golden', '?')} golden + {accuracy.get('held_out', '?')} held out"
             f"{_batches(accuracy)})",
             f"  {'precision':<9} {'target':<12} {'metric':<24} {'value':>7} {'drop':>7} {'size MB':>8} "
             f"{'latency ms':>10}  notes"]
    order = {"fp32": 0, "fp16": 1, "int8": 2, "int4": 3}
    for _label, r in sorted(rows.items(), key=lambda kv: (order.get(kv[1].get("precision"), 9), kv[0])):
        if r.get("skipped"):
            lines.append(f"  {r['precision']:<9} {r['backend']:<12} not run here: {r['skipped']}")
            continue
        notes = []
        if r.get("method"):
            notes.append(r["method"])
        if r.get("teacher_forced"):
            tf = r["teacher_forced"]
            notes.append(f"logits cosine {tf['logits_cosine']:.4f} (min {tf['logits_cosine_min']:.4f}) over "
                         f"{tf['positions']} teacher-forced positions, sequences equal {r['sequence_equality']:.2f}")
        if r.get("kept_fp32_nodes"):
            notes.append(f"{len(r['kept_fp32_nodes'])} node(s) kept in higher precision")
        if r.get("auto_fallback"):
            a = r["auto_fallback"]
            notes.append(f"automatic fallback: plain INT8 {a['plain']['value']:.4f} < floor {a['floor']:g}, "
                         f"latency x{a['speed_cost']:.2f} of plain INT8")
        if not r.get("passed", True):
            notes.append("below the registry's floor")
        lines.append(f"  {r['precision']:<9} {r['backend']:<12} {r['metric']:<24} {r['value']:>7.4f} {r['drop']:>7.4f} "
                     f"{r['size_mb']:>8.2f} {r['latency_ms']:>10.2f}  {', '.join(notes)}")
    return "\n".join(lines)
