"""Parity checks: tensors (per output, with tolerances) and the task metric, into one report.

Runs on the device (against golden I/O) as well as in CI (against the live PyTorch model, whose
reference is produced by edgetool.export and handed over as a Golden).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import metrics
from .golden import Golden, run_samples
from .tasks import Tolerance, get_task


@dataclass
class Thresholds:
    atol: float
    rtol: float
    metric_floor: float


def thresholds_for(task: str, precision: str, atol=None, rtol=None, metric_floor=None) -> Thresholds:
    spec = get_task(task)
    tol: Tolerance = spec.tolerance(precision)
    floor = spec.metric_floor.get(precision, spec.metric_floor.get("fp32", 1.0))
    return Thresholds(tol.atol if atol is None else atol, tol.rtol if rtol is None else rtol,
                      floor if metric_floor is None else metric_floor)


def tensor_stats(ref: np.ndarray, got: np.ndarray, th: Thresholds) -> dict:
    ref = np.asarray(ref)
    got = np.asarray(got)
    if ref.shape != got.shape:
        return {"shape_ref": list(ref.shape), "shape_got": list(got.shape), "passed": False,
                "max_abs": float("inf"), "max_rel": float("inf"), "cosine": 0.0, "top1": None}
    if not np.issubdtype(ref.dtype, np.floating):
        equal = bool(np.array_equal(ref, got))
        return {"max_abs": 0.0 if equal else float(np.abs(ref.astype(np.int64) - got.astype(np.int64)).max()),
                "max_rel": 0.0, "cosine": 1.0 if equal else 0.0, "top1": None, "passed": equal}
    r = ref.astype(np.float64)
    g = got.astype(np.float64)
    diff = np.abs(r - g)
    finite = bool(np.isfinite(g).all())
    denom = np.linalg.norm(r) * np.linalg.norm(g)
    top1 = None
    if r.ndim >= 1 and r.shape[-1] > 1 and r.size:
        top1 = float(np.mean(r.reshape(-1, r.shape[-1]).argmax(-1) == g.reshape(-1, g.shape[-1]).argmax(-1)))
    return {
        "max_abs": float(diff.max()) if diff.size else 0.0,
        "max_rel": float((diff / np.maximum(np.abs(r), 1e-6)).max()) if diff.size else 0.0,
        "mean_abs": float(diff.mean()) if diff.size else 0.0,
        "cosine": float((r * g).sum() / denom) if denom > 0 else float(np.array_equal(r, g)),
        "top1": top1,
        "passed": finite and bool(np.all(diff <= th.atol + th.rtol * np.abs(r))),
    }


def _merge(acc: dict | None, s: dict) -> dict:
    """Worst case over calls: max of errors, min of cosine and top-1."""
    if acc is None:
        return dict(s)
    out = dict(acc)
    for k in ("max_abs", "max_rel", "mean_abs"):
        if k in s:
            out[k] = max(out.get(k, 0.0), s[k])
    for k in ("cosine", "top1"):
        if s.get(k) is not None:
            out[k] = s[k] if out.get(k) is None else min(out[k], s[k])
    out["passed"] = out["passed"] and s["passed"]
    return out


def compare(reference: Golden, candidate_engines: dict, pipeline_factory, task: str, precision: str,
            th: Thresholds, label: str) -> dict:
    """Replay the reference's engine calls on the candidate engines (tensor parity), then run the
    reference's samples through a pipeline on the candidate engines (task metric)."""
    per_output: dict[tuple, dict] = {}
    for calls in reference.calls:
        for call in calls:
            got = candidate_engines[call.graph].run(call.feeds)
            for name, ref in call.outputs.items():
                key = (call.graph, name)
                if name not in got:
                    per_output[key] = {"passed": False, "error": f"output '{name}' missing"}
                    continue
                per_output[key] = _merge(per_output.get(key), tensor_stats(ref, got[name], th))
    candidate = run_samples(pipeline_factory, candidate_engines, reference.samples)
    spec = get_task(task)
    value = metrics.compute(spec.metric, reference.results, candidate.results)
    outputs = [{"graph": g, "output": n, **s} for (g, n), s in per_output.items()]
    metric = {"name": spec.metric, "value": value, "floor": th.metric_floor, "passed": value >= th.metric_floor}
    return {
        "artifact": label,
        "precision": precision,
        "atol": th.atol,
        "rtol": th.rtol,
        "samples": len(reference.samples),
        "outputs": outputs,
        "metric": metric,
        "passed": all(o["passed"] for o in outputs) and metric["passed"] and bool(outputs),
    }


def format_report(report: dict) -> str:
    """The terminal table."""
    lines = [f"{report['artifact']}  (precision {report['precision']}, atol {report['atol']:g}, "
             f"rtol {report['rtol']:g}, {report['samples']} samples, reference: {report.get('reference', 'golden')})"]
    head = f"  {'graph/output':<34} {'max abs':>10} {'max rel':>10} {'cosine':>10} {'top-1':>7}  result"
    lines.append(head)
    for o in report["outputs"]:
        top1 = "-" if o.get("top1") is None else f"{o['top1']:.3f}"
        lines.append(f"  {o['graph'] + '/' + o['output']:<34} {o.get('max_abs', float('nan')):>10.3g} "
                     f"{o.get('max_rel', float('nan')):>10.3g} {o.get('cosine', float('nan')):>10.6f} {top1:>7}  "
                     f"{'ok' if o['passed'] else 'FAIL'}")
    m = report["metric"]
    lines.append(f"  task metric {m['name']}: {m['value']:.4f} (floor {m['floor']:g})  {'ok' if m['passed'] else 'FAIL'}")
    lines.append(f"  => {'PASSED' if report['passed'] else 'FAILED'}")
    return "\n".join(lines)


# -- whole-bundle validation (the `edgetool validate` command) ----------------------------------
@dataclass
class ValidateOptions:
    against: str = "golden"  # golden | torch | <backend>/<precision> of the same bundle
    backend: str | None = None  # only this backend (default: every backend the bundle has artifacts for)
    precision: str | None = None  # only this precision
    atol: float | None = None
    rtol: float | None = None
    metric_floor: float | None = None
    model: str | None = None  # checkpoint dir for --against torch (default: the bundle's recorded source)


def candidate_groups(bundle, backend: str | None = None, precision: str | None = None) -> list[tuple[str, str]]:
    """(backend, precision) pairs the bundle can run, ONNX artifacts on ONNX Runtime first."""
    from .backends import TARGET_BACKEND

    groups = set()
    for a in bundle.artifacts:
        be = TARGET_BACKEND.get(a.target, "onnxruntime")
        groups.add((be, a.precision))
        if a.format == "onnx":
            groups.add(("onnxruntime", a.precision))
    order = {"onnxruntime": 0, "openvino": 1, "tensorrt": 2}
    out = sorted(groups, key=lambda g: (order.get(g[0], 9), g[1]))
    if backend:
        from .backends import backend_class

        name = backend_class(backend).name
        out = [g for g in out if g[0] == name] or [(name, p) for p in sorted({g[1] for g in out})]
    if precision:
        out = [g for g in out if g[1] == precision]
    return out


def validate_bundle(bundle, opts: ValidateOptions, reference: Golden | None = None) -> list[dict]:
    """Every selected (backend, precision) of the bundle against the reference (golden by default)."""
    from . import golden as golden_io
    from .errors import UsageError
    from .pipelines import pipeline_class
    from .pipelines.base import open_engines

    bundle.verify_all()
    ref = reference if reference is not None else golden_io.load(bundle)
    cls = pipeline_class(get_task(bundle.task))
    factory = lambda engines: cls(bundle, engines=engines)  # noqa: E731
    groups = candidate_groups(bundle, opts.backend, opts.precision)
    if "/" in opts.against:
        ref_backend, ref_precision = opts.against.split("/", 1)
        ref = run_samples(factory, open_engines(bundle, ref_backend, ref_precision), ref.samples)
        groups = [g for g in groups if f"{g[0]}/{g[1]}" != opts.against]
    if not groups:
        raise UsageError(f"Nothing to validate in {bundle.root} for backend={opts.backend} precision={opts.precision}.")
    reports = []
    for be, prec in groups:
        th = thresholds_for(bundle.task, prec, opts.atol, opts.rtol, opts.metric_floor)
        report = compare(ref, open_engines(bundle, be, prec), factory, bundle.task, prec, th, f"{be}/{prec}")
        report["reference"] = opts.against
        reports.append(report)
    return reports
