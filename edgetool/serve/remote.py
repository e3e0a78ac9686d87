"""A bundle's answers from a running Triton server: `validate --server` and `bench --server`.

Both send the bundle's golden samples, one item per request, to its pipeline model with `tritonclient`
(the `serve` extra). Validation applies the task metric of local validation to the served answers
against the golden answers recorded at export, and checks every answer field by field; the bench
measures throughput and latency per concurrency level beside the in-process runtime on the same samples.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from edgetool.check import golden as golden_io
from edgetool.check import metrics
from edgetool.check.compare import thresholds_for
from edgetool.runtime.errors import UsageError
from edgetool.runtime.tasks import get_task

SERVED_KINDS = ("text", "image", "audio")  # question-answering's dict input has no natural tensor


@dataclass
class Item:
    """One request: the pipeline's first argument, its options, and the golden answer."""

    value: object
    kwargs: dict
    answer: object


def items(bundle) -> list[Item]:
    """The golden samples one item per request (a sample on a list of N items answered N results)."""
    spec = get_task(bundle.task)
    if spec.input_kind not in SERVED_KINDS:
        raise UsageError(f"Task '{bundle.task}' is not served by the pipeline model (its inputs are not a text, an "
                         "image or an audio clip); validate it in process: edgetool validate BUNDLE.")
    golden = golden_io.load(bundle)
    out = []
    for sample, answer in zip(golden.samples, golden.results):
        first = sample.args[0]
        if isinstance(first, list):
            out += [Item(x, dict(sample.kwargs), a) for x, a in zip(first, answer)]
        else:
            out.append(Item(first, dict(sample.kwargs), answer))
    return out


def close(a, b, rtol: float, atol: float) -> bool:
    """Same structure and strings; numbers within tolerance of the golden value."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k], rtol, atol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y, rtol, atol) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= atol + rtol * abs(b)
    return a == b


def _client(url: str, model: str):
    from .client import Client

    return Client(url, model)


def validate_server(bundle, url: str, model: str | None = None, precision: str = "fp32",
                    metric_floor: float | None = None) -> dict:
    """One report in validate's shape: the task metric over the served answers and one row per field check."""
    spec = get_task(bundle.task)
    th = thresholds_for(bundle.task, precision, metric_floor=metric_floor)
    batch = items(bundle)
    client, t0 = _client(url, model or bundle.task), time.perf_counter()
    answers, errors = [], []
    try:
        for i, it in enumerate(batch):
            try:
                answers.append(client(spec.input_kind, it.value, it.kwargs)[0])
            except Exception as e:  # noqa: BLE001 — a failed request is a finding of the report, not a crash
                answers.append(None)
                errors.append(f"sample {i}: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
    finally:
        client.close()
    golden = [it.answer for it in batch]
    equal = [a is not None and close(a, g, th.rtol, th.atol) for a, g in zip(answers, golden)]
    value = metrics.compute(spec.metric, golden, answers) if not errors else 0.0
    metric = {"name": spec.metric, "value": value, "floor": th.metric_floor, "passed": value >= th.metric_floor}
    answers_row = {"graph": "served", "output": "answers", "passed": all(equal) and not errors,
                   "equal": int(sum(equal)), "total": len(equal),
                   "first_difference": next((i for i, ok in enumerate(equal) if not ok), None)}
    if errors:
        answers_row["error"] = "; ".join(errors[:3]) + (f" (+{len(errors) - 3} more)" if len(errors) > 3 else "")
    return {"artifact": f"triton {url} model {model or bundle.task}", "reference": "golden answers",
            "precision": precision, "atol": th.atol, "rtol": th.rtol, "stat": "max", "samples": len(batch),
            "outputs": [answers_row], "metric": metric, "passed": answers_row["passed"] and metric["passed"],
            "time_s": round(time.perf_counter() - t0, 3), "server": url}


def format_server_report(r: dict) -> str:
    o, m = r["outputs"][0], r["metric"]
    lines = [f"{r['artifact']}  vs {r['reference']}  ({r['samples']} requests, answers within atol {r['atol']:g}, "
             f"rtol {r['rtol']:g})",
             f"  answers equal: {o['equal']}/{o['total']}" + ("" if o["passed"] else
                                                              f"  FAIL (first difference: sample {o['first_difference']})"),
             f"  task metric {m['name']}: {m['value']:.4f} (floor {m['floor']:g})  {'ok' if m['passed'] else 'FAIL'}"]
    if o.get("error"):
        lines.append(f"  errors: {o['error']}")
    lines.append(f"  => {'PASSED' if r['passed'] else 'FAILED'}")
    return "\n".join(lines)


# -- load ---------------------------------------------------------------------------------------------
def _percentiles(seconds: list[float]) -> dict:
    ms = np.asarray(seconds or [float("nan")]) * 1000
    return {"p50": float(np.percentile(ms, 50)), "p90": float(np.percentile(ms, 90)), "p99": float(np.percentile(ms, 99))}


def load_level(url: str, model: str, kind: str, batch: list[Item], concurrency: int, requests: int) -> dict:
    """`concurrency` clients (one connection each) send `requests` requests in all, rotating over the samples."""
    lock, latencies, errors = threading.Lock(), [], []
    counter = iter(range(requests))

    def worker():
        client = _client(url, model)
        try:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                it = batch[i % len(batch)]
                t = time.perf_counter()
                try:
                    client(kind, it.value, it.kwargs)
                    with lock:
                        latencies.append(time.perf_counter() - t)
                except Exception as e:  # noqa: BLE001 — counted and reported
                    with lock:
                        errors.append(f"{type(e).__name__}: {str(e).splitlines()[0][:160]}")
        finally:
            client.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"concurrency": concurrency, "requests": requests, "ok": len(latencies), "errors": len(errors),
            "first_errors": errors[:3], "wall_s": wall, "throughput_per_s": len(latencies) / wall if wall else None,
            "latency_ms": _percentiles(latencies)}


def in_process(bundle, kind_items: list[Item], requests: int) -> dict:
    """The same requests through the runtime in this process, one after the other (no server)."""
    from edgetool.runtime import pipeline

    pipe = pipeline(bundle)
    pipe(kind_items[0].value, **kind_items[0].kwargs)  # warm-up
    latencies = []
    t0 = time.perf_counter()
    for i in range(requests):
        it = kind_items[i % len(kind_items)]
        t = time.perf_counter()
        pipe(it.value, **it.kwargs)
        latencies.append(time.perf_counter() - t)
    wall = time.perf_counter() - t0
    return {"concurrency": 1, "requests": requests, "ok": requests, "errors": 0, "wall_s": wall,
            "throughput_per_s": requests / wall, "latency_ms": _percentiles(latencies)}


def bench_server(bundle, url: str, model: str | None, concurrency: list[int], requests: int) -> dict:
    if not concurrency or any(c < 1 for c in concurrency):
        raise UsageError(f"--concurrency takes positive integers, e.g. 1,4,16 (got {concurrency}).")
    if requests < 1:
        raise UsageError(f"--requests must be >= 1, got {requests}.")
    kind, batch = get_task(bundle.task).input_kind, items(bundle)
    model = model or bundle.task
    _client(url, model).close()  # a wrong URL fails here, once
    for it in batch[:2]:  # warm the server's instances
        _client(url, model)(kind, it.value, it.kwargs)
    levels = [load_level(url, model, kind, batch, c, max(requests, c)) for c in concurrency]
    return {"bundle": str(bundle.root), "task": bundle.task, "server": url, "model": model,
            "in_process": in_process(bundle, batch, min(requests, 200)), "levels": levels}


def format_server_bench(report: dict) -> str:
    lines = [f"{report['task']}  {report['bundle']}  served by {report['server']} (model {report['model']})",
             f"  {'clients':<12} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}"]
    rows = [("in-process", report["in_process"])] + [(str(lv["concurrency"]), lv) for lv in report["levels"]]
    for name, lv in rows:
        lat = lv["latency_ms"]
        lines.append(f"  {name:<12} {lv['requests']:>8} {lv['errors']:>6} {lv['throughput_per_s'] or 0:>8.1f} "
                     f"{lat['p50']:>8.2f} {lat['p90']:>8.2f} {lat['p99']:>8.2f}")
        for e in lv.get("first_errors", []):
            lines.append(f"    error: {e}")
    return "\n".join(lines)
