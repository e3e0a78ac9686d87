"""Parity checks: tensors (per output, with tolerances and an error statistic) and the task metric.

Runs on the device (against golden I/O) as well as in CI (against the live PyTorch model, whose
reference is produced by edgetool.export and handed over as a Golden, or against another artifact of
the same or another bundle).

The tolerance test: for each element, e = |got - ref| / (atol + rtol * |ref|). An output passes when
the chosen statistic of e over all its elements and calls is <= 1. With `--stat max` (the default)
that is exactly numpy.allclose on every element; `mean`, `median` and `p99` tolerate rare outliers.
"""
from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgetool.check import metrics
from edgetool.runtime.errors import UsageError, did_you_mean
from edgetool.check.golden import Golden, Sample, run_samples
from edgetool.runtime.tasks import Tolerance, get_task

STATS = ("max", "mean", "median", "p99")
_QUANTILE_KEEP = 1 << 20  # elements per call kept for median / p99 (strided beyond); max and mean stay exact


@dataclass
class Thresholds:
    atol: float
    rtol: float
    metric_floor: float
    stat: str = "max"
    # The registry's per-output tolerances (output name or "graph/output", fnmatch patterns allowed) ...
    per_output: dict[str, Tolerance] = field(default_factory=dict)
    # ... and the user's (--atol NAME=V / --rtol NAME=V), which win, separately for atol and rtol.
    output_atol: dict[str, float] = field(default_factory=dict)
    output_rtol: dict[str, float] = field(default_factory=dict)

    def for_output(self, graph: str, name: str) -> tuple[float, float]:
        keys = (f"{graph}/{name}", name)
        atol, rtol = self.atol, self.rtol
        reg = _first_match(self.per_output, keys)
        if reg is not None:
            atol, rtol = reg.atol, reg.rtol
        user_a, user_r = _first_match(self.output_atol, keys), _first_match(self.output_rtol, keys)
        return (atol if user_a is None else user_a), (rtol if user_r is None else user_r)


def _first_match(table: dict, keys: tuple[str, ...]):
    for pattern, value in table.items():
        if any(fnmatch.fnmatchcase(k, pattern) for k in keys):
            return value
    return None


def _override(tol: Tolerance, atol, rtol) -> Tolerance:
    return Tolerance(tol.atol if atol is None else atol, tol.rtol if rtol is None else rtol)


def thresholds_for(task: str, precision: str, atol=None, rtol=None, metric_floor=None, stat: str = "max",
                   output_atol: dict | None = None, output_rtol: dict | None = None) -> Thresholds:
    """Registry defaults for (task, precision), then the user's overrides. Precedence, per output and
    separately for atol and rtol: --atol NAME=V > --atol V > the registry's per-output entry
    (TaskSpec.output_tolerances) > its per-precision entry (TaskSpec.tolerances)."""
    if stat not in STATS:
        raise UsageError(f"Unknown error statistic '{stat}'.{did_you_mean(stat, STATS)} Use one of: {', '.join(STATS)}.")
    spec = get_task(task)
    floor = spec.metric_floor.get(precision, spec.metric_floor.get("fp32", 1.0))
    registry = (getattr(spec, "output_tolerances", None) or {}).get(precision, {})
    base = _override(spec.tolerance(precision), atol, rtol)
    return Thresholds(base.atol, base.rtol, floor if metric_floor is None else metric_floor, stat,
                      {pat: _override(t, atol, rtol) for pat, t in registry.items()},
                      dict(output_atol or {}), dict(output_rtol or {}))


# -- per-output error accumulation ---------------------------------------------------------------
class ErrorAccumulator:
    """Errors of one output over every call: exact max/mean, quantiles from (at most) 1M elements a call."""

    def __init__(self, graph: str, name: str, atol: float, rtol: float, stat: str):
        self.graph, self.name, self.atol, self.rtol, self.stat = graph, name, atol, rtol, stat
        self.n = 0
        self.sum_abs = self.sum_score = 0.0
        self.max_abs = self.max_rel = self.max_score = 0.0
        self.abs_parts: list[np.ndarray] = []
        self.score_parts: list[np.ndarray] = []
        self.cosine: float | None = None
        self.top1: float | None = None
        self.exact = True  # integer outputs: equality
        self.finite = True
        self.error: str | None = None
        self.worst: tuple | None = None  # (sample, call) with the largest normalized error
        self.worst_score = -1.0
        self.calls = 0

    def add(self, ref, got, where: tuple = ()) -> None:
        self.calls += 1
        ref, got = np.asarray(ref), np.asarray(got)
        if ref.shape != got.shape:
            self.error = f"shape {list(got.shape)} != reference {list(ref.shape)}"
            self.worst = self.worst or where
            return
        if not np.issubdtype(ref.dtype, np.floating):
            if not np.array_equal(ref, got):
                self.exact = False
                d = np.abs(ref.astype(np.int64) - got.astype(np.int64))
                self.max_abs = max(self.max_abs, float(d.max()))
                self.worst = self.worst or where
            self.n += ref.size
            return
        r = ref.astype(np.float64)
        g = got.astype(np.float64)
        if not np.isfinite(g).all():
            self.finite = False
            self.worst = self.worst or where
        diff = np.abs(r - g)
        tol = self.atol + self.rtol * np.abs(r)
        with np.errstate(divide="ignore", invalid="ignore"):
            score = np.where(diff == 0, 0.0, diff / tol)
        score = np.where(np.isnan(score), np.inf, score)
        if diff.size:
            self.n += diff.size
            self.sum_abs += float(diff.sum())
            self.sum_score += float(np.minimum(score, 1e30).sum())
            self.max_abs = max(self.max_abs, float(diff.max()))
            self.max_rel = max(self.max_rel, float((diff / np.maximum(np.abs(r), 1e-6)).max()))
            call_worst = float(score.max())
            self.max_score = max(self.max_score, call_worst)
            if call_worst > self.worst_score:
                self.worst_score, self.worst = call_worst, where
            step = max(1, diff.size // _QUANTILE_KEEP)
            self.abs_parts.append(diff.ravel()[::step].astype(np.float32))
            self.score_parts.append(np.minimum(score.ravel()[::step], 3e38).astype(np.float32))
        denom = np.linalg.norm(r) * np.linalg.norm(g)
        cos = float((r * g).sum() / denom) if denom > 0 else float(np.array_equal(r, g))
        self.cosine = cos if self.cosine is None else min(self.cosine, cos)
        if r.ndim >= 1 and r.shape[-1] > 1 and r.size:
            t1 = float(np.mean(r.reshape(-1, r.shape[-1]).argmax(-1) == g.reshape(-1, g.shape[-1]).argmax(-1)))
            self.top1 = t1 if self.top1 is None else min(self.top1, t1)

    def _quantile(self, parts: list[np.ndarray], q: float) -> float:
        if not parts:
            return 0.0
        return float(np.quantile(np.concatenate(parts), q))

    def score(self) -> float:
        if self.stat == "max":
            return self.max_score
        if self.stat == "mean":
            return self.sum_score / self.n if self.n else 0.0
        return self._quantile(self.score_parts, 0.5 if self.stat == "median" else 0.99)

    def result(self) -> dict:
        out = {"graph": self.graph, "output": self.name, "atol": self.atol, "rtol": self.rtol, "stat": self.stat,
               "calls": self.calls, "elements": self.n}
        if self.error:
            return {**out, "error": self.error, "passed": False, "max_abs": float("inf"), "max_rel": float("inf"),
                    "score": float("inf"), "cosine": 0.0, "top1": None, "worst": list(self.worst or [])}
        score = self.score() if self.exact else float("inf")
        out.update(max_abs=self.max_abs, mean_abs=self.sum_abs / self.n if self.n else 0.0,
                   median_abs=self._quantile(self.abs_parts, 0.5), p99_abs=self._quantile(self.abs_parts, 0.99),
                   max_rel=self.max_rel, cosine=1.0 if self.cosine is None else self.cosine, top1=self.top1,
                   score=score, worst=list(self.worst or []))
        out["passed"] = self.finite and self.exact and bool(score <= 1.0)
        if not self.finite:
            out["error"] = "non-finite values (NaN/inf) in the output"
        elif not self.exact:
            out["error"] = "integer output differs"
        return out


def tensor_stats(ref: np.ndarray, got: np.ndarray, th: Thresholds, graph: str = "", name: str = "") -> dict:
    """Statistics of one output tensor against its reference (see the module docstring)."""
    atol, rtol = th.for_output(graph, name)
    acc = ErrorAccumulator(graph, name, atol, rtol, th.stat)
    acc.add(ref, got)
    return acc.result()


def compare(reference: Golden, candidate_engines: dict, pipeline_factory, task: str, precision: str,
            th: Thresholds, label: str) -> dict:
    """Replay the reference's engine calls on the candidate engines (tensor parity), then run the
    reference's samples through a pipeline on the candidate engines (task metric)."""
    t0 = time.perf_counter()
    accs: dict[tuple, ErrorAccumulator] = {}
    missing: dict[tuple, str] = {}
    for i, calls in enumerate(reference.calls):
        for j, call in enumerate(calls):
            got = candidate_engines[call.graph].run(call.feeds)
            for name, ref in call.outputs.items():
                key = (call.graph, name)
                if key not in accs:
                    accs[key] = ErrorAccumulator(call.graph, name, *th.for_output(call.graph, name), th.stat)
                if name not in got:
                    missing[key] = f"output '{name}' missing from the candidate"
                    continue
                accs[key].add(ref, got[name], (i, j))
    outputs = []
    for key, acc in accs.items():
        res = acc.result()
        if key in missing:
            res.update(passed=False, error=missing[key])
        outputs.append(res)
    candidate = run_samples(pipeline_factory, candidate_engines, reference.samples)
    spec = get_task(task)
    value = metrics.compute(spec.metric, reference.results, candidate.results)
    metric = {"name": spec.metric, "value": value, "floor": th.metric_floor, "passed": value >= th.metric_floor,
              **metrics.details(spec.metric, reference.results, candidate.results)}
    return {
        "artifact": label,
        "precision": precision,
        "atol": th.atol,
        "rtol": th.rtol,
        "stat": th.stat,
        "samples": len(reference.samples),
        "outputs": outputs,
        "metric": metric,
        "passed": all(o["passed"] for o in outputs) and metric["passed"] and bool(outputs),
        "time_s": round(time.perf_counter() - t0, 3),
    }


def format_report(report: dict) -> str:
    """The terminal table."""
    if report.get("skipped"):
        return f"{report['artifact']}: not validated here ({report['skipped'].splitlines()[0]})"
    stat = report.get("stat", "max")
    lines = [f"{report['artifact']}  vs {report.get('reference', 'golden')}  (precision {report['precision']}, "
             f"atol {report['atol']:g}, rtol {report['rtol']:g}, stat {stat}, {report['samples']} samples"
             f"{', inputs ' + report['inputs'] if report.get('inputs') not in (None, 'golden') else ''})"]
    lines.append(f"  {'graph/output':<32} {'max abs':>9} {'mean abs':>9} {'max rel':>9} {'cosine':>10} "
                 f"{'top-1':>6} {stat + '/tol':>10}  result")
    for o in report["outputs"]:
        top1 = "-" if o.get("top1") is None else f"{o['top1']:.3f}"
        tol = "" if (o.get("atol"), o.get("rtol")) in ((None, None), (report["atol"], report["rtol"])) else \
            f"  (atol {o['atol']:g}, rtol {o['rtol']:g})"
        err = f"  {o['error']}" if o.get("error") else ""
        lines.append(f"  {o['graph'] + '/' + o['output']:<32} {o.get('max_abs', float('nan')):>9.3g} "
                     f"{o.get('mean_abs', float('nan')):>9.3g} {o.get('max_rel', float('nan')):>9.3g} "
                     f"{o.get('cosine', float('nan')):>10.6f} {top1:>6} {o.get('score', float('nan')):>10.3g}  "
                     f"{'ok' if o['passed'] else 'FAIL'}{tol}{err}")
    m = report["metric"]
    lines.append(f"  task metric {m['name']}: {m['value']:.4f} (floor {m['floor']:g})  {'ok' if m['passed'] else 'FAIL'}")
    loc = report.get("localize")
    if loc:
        lines.extend("  " + line for line in format_localize(loc).splitlines())
    lines.append(f"  => {'PASSED' if report['passed'] else 'FAILED'}")
    return "\n".join(lines)


def format_localize(loc: dict) -> str:
    if loc.get("error"):
        return f"localize: {loc['error']}"
    lines = [f"localize ({loc.get('graph', '?')}: {loc.get('candidate')} vs {loc.get('reference')}, "
             f"{loc.get('compared', 0)} aligned tensors)"]
    for name, d in (loc.get("changed_initializers") or {}).items():
        lines.append(f"  initializer {name} differs: max abs {d:.3g}")
    if loc.get("note"):
        lines.append(f"  note: {loc['note']}")
    first = loc.get("first_divergent")
    if first:
        lines.append(f"  first divergent node: {first['node']} ({first['op_type']}) -> {first['output']}: "
                     f"max abs {first['max_abs']:.3g}, max rel {first['max_rel']:.3g}")
        if first.get("initializers"):
            lines.append(f"    its initializers: {', '.join(first['initializers'])}")
        if loc.get("last_agreeing"):
            lines.append(f"    last agreeing node before it: {loc['last_agreeing']}")
    else:
        lines.append("  no aligned intermediate tensor differs beyond tolerance "
                     "(the divergence is in the engine or in unaligned nodes)")
    return "\n".join(lines)


# -- whole-bundle validation (the `edgetool validate` command) ----------------------------------
@dataclass
class ValidateOptions:
    against: str = "golden"  # golden | torch | BACKEND/PRECISION of this bundle | another bundle dir[::B/P]
    backend: str | None = None  # only this backend (default: every backend the bundle has artifacts for)
    precision: str | None = None  # only this precision
    atol: float | None = None
    rtol: float | None = None
    metric_floor: float | None = None
    model: str | None = None  # checkpoint dir for --against torch (default: the bundle's recorded source)
    stat: str = "max"  # max | mean | median | p99 of the normalized error
    inputs: Path | None = None  # user inputs (text file / folder of images or WAVs) instead of golden samples
    output_atol: dict = field(default_factory=dict)  # output name or graph/output pattern -> atol
    output_rtol: dict = field(default_factory=dict)
    localize: bool = False
    limit: int | None = None  # use at most N user inputs


@dataclass
class Against:
    """A parsed --against."""

    kind: str  # golden | torch | artifact | bundle
    bundle: object = None  # the reference bundle (kind artifact: the same one)
    backend: str | None = None
    precision: str | None = None

    @property
    def label(self) -> str:
        if self.kind in ("golden", "torch"):
            return self.kind
        group = f"{self.backend}/{self.precision}"
        return group if self.kind == "artifact" else f"{self.bundle.root}::{group}"


def parse_against(text: str, bundle) -> Against:
    from edgetool.runtime.bundle import MANIFEST, PRECISIONS, Bundle

    raw = (text or "golden").strip()
    if raw.lower() in ("golden", "torch", "pytorch"):
        return Against("torch" if raw.lower() in ("torch", "pytorch") else "golden")
    path_part, _, group_part = raw.partition("::")
    if Path(path_part).is_dir() and (Path(path_part) / MANIFEST).is_file():
        other = Bundle.load(path_part)
        if other.task != bundle.task:
            raise UsageError(f"--against bundle {path_part} is a '{other.task}' bundle; {bundle.root} is "
                             f"'{bundle.task}'. Compare bundles of the same task.")
        if sorted(other.graphs) != sorted(bundle.graphs):
            raise UsageError(f"--against bundle {path_part} has graphs {sorted(other.graphs)}, {bundle.root} has "
                             f"{sorted(bundle.graphs)}: they are not the same model family.")
        if group_part:
            be, prec = _parse_group(group_part, PRECISIONS)
        else:
            groups = candidate_groups(other)
            be, prec = ("onnxruntime", "fp32") if ("onnxruntime", "fp32") in groups else groups[0]
        return Against("bundle", other, be, prec)
    if "/" in raw and not Path(raw).exists():
        be, prec = _parse_group(raw, PRECISIONS)
        return Against("artifact", bundle, be, prec)
    if Path(path_part).exists():
        Bundle.load(path_part)  # raises the bundle error that explains what is wrong with it
    raise UsageError(f"--against '{text}' is not understood.{did_you_mean(raw.lower(), ['golden', 'torch'])} Expected: golden (recorded at export, the default), torch "
                     "(the live PyTorch model), BACKEND/PRECISION of this bundle (e.g. onnxruntime/fp32, onnx/fp32, "
                     "openvino/int8), or another bundle's directory (optionally DIR::BACKEND/PRECISION).")


def backend_name(name: str) -> str:
    """Canonical backend name ("onnx"/"ort" -> onnxruntime, "ov" -> openvino) without importing the engine."""
    from edgetool.runtime.backends import ALIASES, BACKENDS

    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in BACKENDS:
        raise UsageError(f"Unknown backend '{name}'.{did_you_mean(name, BACKENDS)} Known: {', '.join(BACKENDS)}.")
    return key


def _parse_group(text: str, precisions) -> tuple[str, str]:
    be, _, prec = text.partition("/")
    name = backend_name(be)  # "onnx" / "ort" mean the ONNX artifact on ONNX Runtime
    if prec not in precisions:
        raise UsageError(f"--against '{text}': unknown precision '{prec}'.{did_you_mean(prec, precisions)} "
                         f"Known: {', '.join(precisions)}.")
    return name, prec


def candidate_groups(bundle, backend: str | None = None, precision: str | None = None) -> list[tuple[str, str]]:
    """(backend, precision) pairs the bundle can run, ONNX artifacts on ONNX Runtime first."""
    from edgetool.runtime.backends import TARGET_BACKEND

    groups = set()
    for a in bundle.artifacts:
        be = TARGET_BACKEND.get(a.target, "onnxruntime")
        groups.add((be, a.precision))
        if a.format == "onnx":
            groups.add(("onnxruntime", a.precision))
    order = {"onnxruntime": 0, "openvino": 1, "tensorrt": 2}
    prec_order = {"fp32": 0, "fp16": 1, "int8": 2}
    out = sorted(groups, key=lambda g: (order.get(g[0], 9), prec_order.get(g[1], 9), g[1]))
    if backend:
        name = backend_name(backend)
        out = [g for g in out if g[0] == name] or [(name, p) for p in sorted({g[1] for g in out})]
    if precision:
        out = [g for g in out if g[1] == precision]
    return out


def resolve_samples(bundle, opts: ValidateOptions, golden: Golden | None = None) -> tuple[list[Sample], str]:
    """(samples, description): the golden samples, or the user's --inputs."""
    from edgetool.check import golden as golden_io

    golden = golden if golden is not None else golden_io.load(bundle)
    if opts.inputs is None:
        return golden.samples, "golden"
    from edgetool.check.inputs import load_samples

    samples, _ = load_samples(bundle, Path(opts.inputs), golden.samples, opts.limit)
    return samples, str(opts.inputs)


def validate_bundle(bundle, opts: ValidateOptions, reference: Golden | None = None, torch_reference=None,
                    localizer=None) -> list[dict]:
    """Every selected (backend, precision) of the bundle against the reference (golden by default).

    torch_reference(samples) -> Golden is called for --against torch (it lives in edgetool.export: the
    runtime never imports torch). localizer(context) -> dict is called for each failed report when
    opts.localize is set (edgetool.export.localize: it needs the onnx package)."""
    from edgetool.check import golden as golden_io
    from edgetool.check import parity  # it builds on compare() above
    from edgetool.runtime.pipelines import pipeline_class
    from edgetool.runtime.pipelines.base import open_engines

    bundle.verify_all()
    against = parse_against(opts.against, bundle)
    golden = golden_io.load(bundle)
    if opts.inputs is not None and against.kind == "golden" and reference is None:
        raise UsageError(f"--inputs {opts.inputs} cannot be checked against golden: the golden file holds reference "
                         "outputs for the recorded samples only, not for your inputs. Add --against torch (the live "
                         "PyTorch model; needs the export extra) or --against onnxruntime/fp32 (another artifact of the "
                         "bundle), or drop --inputs to validate on the golden samples.")
    samples, inputs_label = resolve_samples(bundle, opts, golden)
    cls = pipeline_class(get_task(bundle.task))
    factory = lambda engines: cls(bundle, engines=engines)  # noqa: E731
    groups = candidate_groups(bundle, opts.backend, opts.precision)
    if reference is not None:
        ref = reference
    elif against.kind == "golden":
        ref = golden
    elif against.kind == "torch":
        if torch_reference is None:
            raise UsageError("--against torch needs the live model (edgetool.export); call it through the CLI, "
                             "or pass torch_reference=.")
        ref = torch_reference(samples)
    else:
        other = against.bundle
        ref_cls = pipeline_class(get_task(other.task))
        ref = run_samples(lambda e: ref_cls(other, engines=e), open_engines(other, against.backend, against.precision),
                          samples)
        if against.kind == "artifact":
            groups = [g for g in groups if g != (against.backend, against.precision)]
    if not groups:
        raise UsageError(f"Nothing to validate in {bundle.root} for backend={opts.backend} precision={opts.precision}"
                         f" (the bundle has {', '.join(f'{b}/{p}' for b, p in candidate_groups(bundle))}"
                         f"{'; the reference ' + against.label + ' is not validated against itself' if against.kind == 'artifact' else ''}).")
    reports = []
    for be, prec in groups:
        th = thresholds_for(bundle.task, prec, opts.atol, opts.rtol, opts.metric_floor, opts.stat,
                            opts.output_atol, opts.output_rtol)
        report = parity.check(bundle, ref, be, prec, reference_label=against.label, thresholds=th, factory=factory)
        if report.get("skipped"):  # e.g. TensorRT off-device: not a parity failure
            reports.append(report)
            continue
        report.update(inputs=inputs_label, bundle=str(bundle.root), task=bundle.task)
        if opts.localize and not report["passed"]:
            report["localize"] = _localize(localizer, bundle, be, prec, against, ref, report, th, opts)
        reports.append(report)
    return reports


def _localize(localizer, bundle, backend, precision, against: Against, ref: Golden, report: dict, th, opts) -> dict:
    from edgetool.runtime.errors import EdgetoolError

    if localizer is None:
        return {"error": "localization needs the onnx package (pip install 'edgetool[export]')"}
    failing = [o for o in report["outputs"] if not o["passed"]] or report["outputs"]
    worst = max(failing, key=lambda o: o.get("score", 0.0) if o.get("score") == o.get("score") else float("inf"))
    i, j = (worst.get("worst") or [0, 0])[:2]
    call = ref.calls[i][j] if ref.calls and i < len(ref.calls) and j < len(ref.calls[i]) else None
    if call is None or call.graph != worst["graph"]:
        call = next((c for calls in ref.calls for c in calls if c.graph == worst["graph"]), None)
    if call is None:
        return {"error": f"no recorded call of graph '{worst['graph']}' to replay"}
    try:
        return localizer(bundle=bundle, backend=backend, precision=precision, against=against, graph=call.graph,
                         feeds=call.feeds, thresholds=th, model=opts.model)
    except EdgetoolError as e:
        return {"error": str(e)}
    except ImportError as e:  # a re-export needs torch: not on a device
        return {"error": f"localizing against {against.label} needs the export extra ({e}); compare two ONNX artifacts "
                         "instead, e.g. --against onnx/fp32 for a quantized artifact"}


def reports_json(reports: list[dict]) -> str:
    """Strict JSON (no NaN/Infinity literals, which many CI tools reject): non-finite numbers as strings."""
    import json
    import math

    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return str(x)
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        if isinstance(x, np.generic):
            return clean(x.item())
        return x

    return json.dumps(clean(reports), indent=2, default=str)
