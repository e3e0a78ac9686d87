"""Parity checks: tensors (per output, with tolerances and an error statistic) and the task metric.

Runs on the device (against golden I/O) as well as in CI (against the live PyTorch model, whose
reference is produced by edgetool.export and handed over as a Golden, or against another artifact of
the same or another bundle).

The tolerance test scales with the reference: for each element of a call's output,
e = |got - ref| / (atol * S + rtol * |ref|), where S = max(1, max |ref| of that output in that call).
An output passes when the chosen statistic of e over all its elements and calls is <= 1. For outputs of
magnitude <= 1 (probabilities, normalised embeddings, boxes in [0, 1]) that is exactly numpy.allclose;
for large outputs (logits of a generator, depth in metres, pixel boxes) `atol` is relative to the
output's own scale, so fp32 round-off on logits of size 30 is not read as a regression while an error
of 1% of the scale still fails. The report shows `scaled` = max |got - ref| / max |ref| per output.
A registry entry with `Tolerance(scaled=False)` keeps a plain absolute atol. `--stat max` (the default)
takes the worst element; `mean`, `median` and `p99` tolerate rare outliers.

Quantized precisions (fp16, int8) are judged by the task metric: their tensor statistics are reported,
but only the metric (against the reference's pipeline answers) passes or fails them.
"""
from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass, field

import numpy as np

from edgetool.check import metrics
from edgetool.check.answers import compare_answers, format_answers
from edgetool.check.golden import Golden, run_samples
from edgetool.runtime.errors import UsageError, did_you_mean
from edgetool.runtime.names import ALTERNATIVE_GRAPHS, LOGITS, PRESENT_PREFIX, past_for
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

    scaled: bool = True  # atol relative to max(1, max |ref|) of each output (see the module docstring)

    def for_output(self, graph: str, name: str) -> tuple[float, float]:
        keys = (f"{graph}/{name}", name)
        atol, rtol = self.atol, self.rtol
        reg = _first_match(self.per_output, keys)
        if reg is not None:
            atol, rtol = reg.atol, reg.rtol
        user_a, user_r = _first_match(self.output_atol, keys), _first_match(self.output_rtol, keys)
        return (atol if user_a is None else user_a), (rtol if user_r is None else user_r)

    def scaled_for(self, graph: str, name: str) -> bool:
        reg = _first_match(self.per_output, (f"{graph}/{name}", name))
        return self.scaled if reg is None else bool(getattr(reg, "scaled", True))


def _first_match(table: dict, keys: tuple[str, ...]):
    for pattern, value in table.items():
        if any(fnmatch.fnmatchcase(k, pattern) for k in keys):
            return value
    return None


def _override(tol: Tolerance, atol, rtol) -> Tolerance:
    return Tolerance(tol.atol if atol is None else atol, tol.rtol if rtol is None else rtol, tol.scaled)


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
                      dict(output_atol or {}), dict(output_rtol or {}), base.scaled)


# -- per-output error accumulation ---------------------------------------------------------------
class ErrorAccumulator:
    """Errors of one output over every call: exact max/mean, quantiles from (at most) 1M elements a call."""

    def __init__(self, graph: str, name: str, atol: float, rtol: float, stat: str, scaled: bool = True):
        self.graph, self.name, self.atol, self.rtol, self.stat = graph, name, atol, rtol, stat
        self.scaled = scaled
        self.max_ref = 0.0  # max |ref| over every call: `scaled` = max_abs / max_ref
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
        ref_max = float(np.abs(r).max()) if r.size and np.isfinite(r).all() else 1.0
        self.max_ref = max(self.max_ref, ref_max)
        tol = self.atol * (max(1.0, ref_max) if self.scaled else 1.0) + self.rtol * np.abs(r)
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
                   max_rel=self.max_rel, scaled=self.max_abs / max(self.max_ref, 1e-12) if self.n else 0.0,
                   scale=max(1.0, self.max_ref) if self.scaled else 1.0, cosine=1.0 if self.cosine is None else self.cosine, top1=self.top1,
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
    acc = ErrorAccumulator(graph, name, atol, rtol, th.stat, th.scaled_for(graph, name))
    acc.add(ref, got)
    return acc.result()


class OwnCache:
    """Replays a graph whose cache the candidate keeps in a dtype of its own (an int8 KV cache: the artifact's
    options "io_dtypes"; quantize/kv_cache.py). The reference's float cache cannot be fed to it, so each call gets
    the reference's tokens and mask and the candidate's own cache from its previous call, its rows moved as the
    reference's moved between the calls (beam search). Its cache outputs are not compared (other units); its
    logits are, step by step, like any decoder's."""

    def __init__(self, dtypes: dict[str, str]):
        self.dtypes = dtypes
        self.ref: dict[str, np.ndarray] = {}  # input name -> the reference's previous cache output
        self.got: dict[str, np.ndarray] = {}  # input name -> the candidate's

    @staticmethod
    def of(engine) -> "OwnCache | None":
        art = getattr(engine, "artifact", None)
        dtypes = art.options.get("io_dtypes") if art is not None else None
        return OwnCache(dict(dtypes)) if dtypes else None

    def feeds(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        cache = [k for k in feeds if k in self.dtypes]
        if not cache or feeds[cache[0]].shape[2] == 0:  # a first call: an empty cache
            return {**feeds, **{k: feeds[k].astype(self.dtypes[k]) for k in cache}}
        first, length = cache[0], feeds[cache[0]].shape[2]
        rows = [self._row(first, row, length) for row in feeds[first]]
        return {**feeds, **{k: self.got[k][rows] for k in cache}}

    def _row(self, name: str, row: np.ndarray, length: int) -> int:
        """Which row of the reference's previous cache output this cache row is (beams move rows between calls)."""
        for r, previous in enumerate(self.ref.get(name, ())):
            if np.array_equal(previous[:, :length], row):
                return r
        raise ValueError(f"replaying '{name}': a cache row fed to the reference matches none it returned on its "
                         "previous call, so the candidate's own cache cannot follow it")

    def keep(self, ref_outputs: dict, got: dict) -> None:
        for name in got:
            if name in self.dtypes and name.startswith(PRESENT_PREFIX):
                self.ref[past_for(name)], self.got[past_for(name)] = ref_outputs[name], got[name]


def compare(reference: Golden, candidate_engines: dict, pipeline_factory, task: str, precision: str,
            th: Thresholds, label: str) -> dict:
    """Replay the reference's engine calls on the candidate engines (tensor parity), then run the
    reference's samples through a pipeline on the candidate engines (task metric)."""
    t0 = time.perf_counter()
    accs: dict[tuple, ErrorAccumulator] = {}
    missing: dict[tuple, str] = {}
    # quantized decoder LLMs: does each replayed step (the reference's tokens and cache fed) pick fp32's token?
    steps: list[np.ndarray] | None = [] if task == "text-generation" and precision != "fp32" else None
    for i, calls in enumerate(reference.calls):
        own = {g: c for g, e in candidate_engines.items() if (c := OwnCache.of(e)) is not None}
        for j, call in enumerate(calls):
            if call.graph not in candidate_engines and call.graph in ALTERNATIVE_GRAPHS:
                continue  # another engine's form of a graph: these engines run the graph it replaces
            cache = own.get(call.graph)
            got = candidate_engines[call.graph].run(call.feeds if cache is None else cache.feeds(call.feeds))
            if cache is not None:
                cache.keep(call.outputs, got)
            for name, ref in call.outputs.items():
                if cache is not None and name in cache.dtypes:
                    continue
                key = (call.graph, name)
                if key not in accs:
                    accs[key] = ErrorAccumulator(call.graph, name, *th.for_output(call.graph, name), th.stat,
                                                 th.scaled_for(call.graph, name))
                if name not in got:
                    missing[key] = f"output '{name}' missing from the candidate"
                    continue
                accs[key].add(ref, got[name], (i, j))
                if steps is not None and name == LOGITS and np.ndim(ref) == 3:
                    steps.append(np.asarray(ref)[:, -1].argmax(-1) == np.asarray(got[name])[:, -1].argmax(-1))
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
    if steps:
        # A quantized decoder is judged per step: one flipped near-tie changes every later token, so whole
        # sequences (token_equality, kept as information) say little about INT8/INT4 weights.
        top1 = float(np.concatenate(steps).mean())
        metric = {"name": "teacher_forced_top1", "value": top1, "floor": th.metric_floor,
                  "passed": top1 >= th.metric_floor, "steps": int(sum(s.size for s in steps)),
                  "sequence_equality": value}
    answers = compare_answers(reference.e2e, candidate.results, task, precision,
                              judged_by_steps=bool(steps))
    report = {
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
    if precision != "fp32":  # quantized: judged by the task metric; the tensor statistics are information
        report["judged_by"] = "metric"
        report["passed"] = metric["passed"] and bool(outputs) and not any(
            o.get("error") and o["error"] not in ("integer output differs",) for o in outputs)
    if answers is not None:
        report["answers"] = answers
        report["passed"] = report["passed"] and answers["passed"] is not False
    return report


def format_report(report: dict) -> str:
    """The terminal table."""
    if report.get("skipped"):
        return f"{report['artifact']}: not validated here ({report['skipped'].splitlines()[0]})"
    stat = report.get("stat", "max")
    lines = [f"{report['artifact']}  vs {report.get('reference', 'golden')}  (precision {report['precision']}, "
             f"atol {report['atol']:g}, rtol {report['rtol']:g}, stat {stat}, {report['samples']} samples"
             f"{', inputs ' + report['inputs'] if report.get('inputs') not in (None, 'golden') else ''})"]
    lines.append(f"  {'graph/output':<32} {'max abs':>9} {'mean abs':>9} {'max rel':>9} {'scaled':>9} {'cosine':>10} "
                 f"{'top-1':>6} {stat + '/tol':>10}  result")
    for o in report["outputs"]:
        top1 = "-" if o.get("top1") is None else f"{o['top1']:.3f}"
        tol = "" if (o.get("atol"), o.get("rtol")) in ((None, None), (report["atol"], report["rtol"])) else \
            f"  (atol {o['atol']:g}, rtol {o['rtol']:g})"
        err = f"  {o['error']}" if o.get("error") else ""
        verdict = ("ok" if o["passed"] else "FAIL") if report.get("judged_by") != "metric" else \
            ("ok" if o["passed"] else "over (info)")
        lines.append(f"  {o['graph'] + '/' + o['output']:<32} {o.get('max_abs', float('nan')):>9.3g} "
                     f"{o.get('mean_abs', float('nan')):>9.3g} {o.get('max_rel', float('nan')):>9.3g} "
                     f"{o.get('scaled', float('nan')):>9.3g} "
                     f"{o.get('cosine', float('nan')):>10.6f} {top1:>6} {o.get('score', float('nan')):>10.3g}  "
                     f"{verdict}{tol}{err}")
    m = report["metric"]
    judged = "  (judges this precision)" if report.get("judged_by") == "metric" else ""
    lines.append(f"  task metric {m['name']}: {m['value']:.4f} (floor {m['floor']:g})  {'ok' if m['passed'] else 'FAIL'}"
                 f"{judged}")
    if report.get("answers"):
        lines.extend(format_answers(report["answers"]))
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
