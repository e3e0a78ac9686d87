"""`edgetool bench`: speed and memory of a bundle's artifacts, side by side.

For each (backend, precision) group — and the transformers pipeline on the source checkpoint with
--against torch — it measures:
  - cold start in a fresh process: import + load bundle (hash checks included) + first result;
  - peak RSS of that process after a few more calls (the engine, the model and the runtime together);
  - warm latency p50/p90/p99 over --runs calls, interleaved round-robin with a rotating start so that
    machine noise hits every group alike; throughput at --batch; engine time vs pipeline overhead;
  - artifact size on disk;
  - task extras from BENCH_METRICS hooks: generation (time to first token, tokens/s) and audio
    (real-time factor). A task plugs in by registering a hook; its input comes from BENCH_INPUTS.

Runtime-side: NumPy and the stdlib (matplotlib or Pillow only for --plot, imported when asked).
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgetool.runtime.errors import UsageError
from edgetool.runtime.names import FUSED_DECODER
from edgetool.check.golden import Sample

TORCH_GROUP = "torch/eager"


@dataclass
class BenchOptions:
    bundle: Path
    backends: tuple[str, ...] = ()  # default: every backend the bundle can run
    precisions: tuple[str, ...] = ()  # default: every precision it has
    against_torch: bool = False  # also the transformers pipeline (torch eager) on the source checkpoint
    model: str | None = None  # source checkpoint dir for --against torch (default: the bundle's provenance)
    batch: int = 1
    runs: int = 50
    warmup: int = 5
    threads: int | None = None
    inputs: Path | None = None  # take the bench input from a user file instead of the golden sample
    max_new_tokens: int | None = None  # generation tasks: override the sample's setting
    cold_start: bool = True  # measure cold start + peak RSS in fresh processes
    block: int = 5  # timed calls of one group in a row before the next group's turn
    quiet: bool = False
    verify_key: Path | None = None  # verify the bundle's signature first (the cold start includes it)


# -- the bench input: a pipeline call built per input kind ----------------------------------------
def _batch_args(template: Sample, item: Any, batch: int) -> Sample:
    return Sample([item if batch == 1 else [item] * batch, *template.args[1:]], dict(template.kwargs))


def _batch_kwargs(template: Sample, batch: int, keys=("question", "context")) -> Sample:
    kwargs = dict(template.kwargs)
    if batch > 1:
        for k in keys:
            if k in kwargs:
                kwargs[k] = [kwargs[k]] * batch
    return Sample(list(template.args), kwargs)


# input_kind -> builder(template sample, user items or None, batch) -> Sample
BENCH_INPUTS: dict[str, Callable[[Sample, list | None, int], Sample]] = {
    "text": lambda t, items, batch: _batch_args(t, items[0] if items else t.args[0], batch) if t.args
    else _batch_kwargs(t, batch),
    "image": lambda t, items, batch: _batch_args(t, items[0] if items else t.args[0], batch),
    "audio": lambda t, items, batch: _batch_args(t, items[0] if items else t.args[0], batch),
    "none": lambda t, items, batch: _batch_kwargs(items[0] if items else t, batch),
}


def bench_sample(bundle, opts: BenchOptions) -> tuple[Sample, str]:
    """(the pipeline call to time, a description of it)."""
    from edgetool.check import golden as golden_io
    from edgetool.check.inputs import load_samples, template_sample
    from edgetool.runtime.tasks import get_task

    spec = get_task(bundle.task)
    golden = golden_io.load(bundle)
    template = template_sample(golden.samples)
    if template is None:
        raise UsageError(f"{bundle.root} has no golden samples to build a bench input from; pass --inputs FILE.")
    items = None
    if opts.inputs is not None:
        user, names = load_samples(bundle, Path(opts.inputs), golden.samples, limit=1)
        template = user[0]
        items = [template.args[0]] if template.args else None
        described = f"{opts.inputs} ({names[0]})"
    else:
        described = f"golden sample {golden.samples.index(template)}"
    builder = BENCH_INPUTS.get(spec.input_kind, BENCH_INPUTS["text"])
    sample = builder(template, items, opts.batch)
    if opts.max_new_tokens is not None:
        if not any(o.kwarg == "max_new_tokens" for o in spec.cli_options):
            raise UsageError(f"--max-new-tokens does not apply to task '{spec.name}'.")
        sample.kwargs["max_new_tokens"] = opts.max_new_tokens
    first = sample.args[0] if sample.args else sample.kwargs
    return sample, f"{described}: {_describe(first)}" + (f", kwargs {_describe(sample.kwargs)}" if sample.kwargs and sample.args else "")


def _describe(x) -> str:
    if isinstance(x, np.ndarray):
        return f"array {x.dtype}{list(x.shape)}"
    if isinstance(x, list):
        return f"{len(x)} x {_describe(x[0])}" if x and all(_same(v, x[0]) for v in x) else f"list of {len(x)}"
    if isinstance(x, str):
        return repr(x if len(x) <= 60 else x[:57] + "...")
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k}: {_describe(v)}" for k, v in x.items()) + "}"
    return repr(x)


def _same(a, b) -> bool:
    return a is b or (not isinstance(a, np.ndarray) and a == b)


# -- task extras: hooks keyed by name; `applies` decides from the bundle and the task entry ---------
@dataclass
class CallLog:
    """Engine calls of one pipeline call: (graph, start, end) relative to the call's start."""

    t0: float
    calls: list[tuple[str, float, float]] = field(default_factory=list)


@dataclass
class BenchMetric:
    name: str
    applies: Callable[[Any, Any], bool]  # (bundle, task spec) -> bool
    compute: Callable[[Sample, CallLog, float, int], dict]  # (sample, calls, total seconds, batch) -> values


def _generation(sample: Sample, log: CallLog, total: float, batch: int) -> dict:
    steps = [c for c in log.calls if c[0] in ("decoder", FUSED_DECODER)]
    if not steps:
        return {}
    first = steps[0][2] - log.t0
    out = {"time_to_first_token_ms": 1000 * first, "new_tokens": len(steps),
           "tokens_per_s": len(steps) / total if total > 0 else None}
    if len(steps) > 1:
        span = steps[-1][2] - steps[0][2]
        out["decode_tokens_per_s"] = (len(steps) - 1) / span if span > 0 else None
        out["ms_per_token_first"] = 1000 * (steps[1][2] - steps[1][1])
        out["ms_per_token_last"] = 1000 * (steps[-1][2] - steps[-1][1])
    return out


def _audio_seconds(sample: Sample, rate: int = 16000) -> float:
    x = sample.args[0] if sample.args else None
    waves = x if isinstance(x, list) else [x]
    return sum(len(w) / rate for w in waves if isinstance(w, np.ndarray))


def _asr(sample: Sample, log: CallLog, total: float, batch: int) -> dict:
    seconds = _audio_seconds(sample)
    if not seconds:
        return {}
    return {"audio_s": seconds, "real_time_factor": total / seconds, "x_real_time": seconds / total if total else None}


BENCH_METRICS: list[BenchMetric] = [
    BenchMetric("generation", lambda b, spec: "decoder" in b.graphs, _generation),
    BenchMetric("audio", lambda b, spec: spec.input_kind == "audio", _asr),
]


class _TimedEngine:
    """Records each engine call's span into the current CallLog (for engine time and task extras)."""

    def __init__(self, engine, graph: str, owner: "_Group"):
        self.engine, self.graph, self.owner = engine, graph, owner
        self.name = getattr(engine, "name", "?")
        if hasattr(engine, "bind_in_place"):  # the fused decoder's in-place cache (step_models.FusedDecoderModel)
            self.bind_in_place = self._bind_in_place

    def run(self, feeds):
        if self.owner.first_feeds is None:  # the bare-engine cold start replays the first call's inputs
            self.owner.first_feeds = {k: np.asarray(v) for k, v in feeds.items()}
        t = time.perf_counter()
        out = self.engine.run(feeds)
        self.owner.log.calls.append((self.graph, t, time.perf_counter()))
        return out

    def _bind_in_place(self, buffers, shared):
        runner = self.engine.bind_in_place(buffers, shared)

        def run(feeds, out=None):  # the runner's own signature (out: arrays the outputs are written to)
            t = time.perf_counter()
            result = runner(feeds, out)
            self.owner.log.calls.append((self.graph, t, time.perf_counter()))
            return result

        return run


@dataclass
class _Group:
    name: str
    backend: str
    precision: str
    call: Callable[[], Any] | None = None
    log: CallLog = field(default_factory=lambda: CallLog(0.0))
    latencies: list[float] = field(default_factory=list)
    engine_times: list[float] = field(default_factory=list)
    extras: list[dict] = field(default_factory=list)
    result: dict = field(default_factory=dict)
    error: str | None = None
    first_feeds: dict | None = None


def select_groups(bundle, opts: BenchOptions) -> list[tuple[str, str]]:
    from edgetool.check.validate import candidate_groups

    available = candidate_groups(bundle)
    if not opts.backends and not opts.precisions:
        return available
    from edgetool.check.validate import backend_name

    wanted_b = [backend_name(b) for b in opts.backends] or list(dict.fromkeys(g[0] for g in available))
    wanted_p = list(opts.precisions) or list(dict.fromkeys(g[1] for g in available))
    out = []
    for be in wanted_b:
        for prec in wanted_p:
            if (be, prec) in available and (be, prec) not in out:
                out.append((be, prec))
            elif opts.backends and opts.precisions and (be, prec) not in available:
                raise UsageError(f"{bundle.root} cannot run {be}/{prec}; it has "
                                 f"{', '.join(f'{b}/{p}' for b, p in available)}.")
    if not out:
        raise UsageError(f"Nothing to bench in {bundle.root} for --backend {','.join(opts.backends) or 'any'} "
                         f"--precision {','.join(opts.precisions) or 'any'}; it has "
                         f"{', '.join(f'{b}/{p}' for b, p in available)}.")
    return out


def artifact_size_mb(bundle, backend: str, precision: str) -> float:
    from edgetool.runtime.backends import backend_class

    cls = backend_class(backend)
    chosen = bundle.select(cls.formats, precision, cls.name)
    return sum((bundle.root / f).stat().st_size for a in chosen.values() for f in a.files) / 1e6


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for mod in ("numpy", "onnxruntime", "openvino", "tokenizers"):
        try:
            from importlib import metadata

            versions[mod] = metadata.version(mod)
        except Exception:  # noqa: BLE001 - not installed
            pass
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    return {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": affinity, "system": platform.platform(),
            "python": platform.python_version(), "versions": versions}


# -- cold start: a fresh process per group --------------------------------------------------------
_CHILD = r"""
import time
t0 = time.perf_counter()
import json, sys
from edgetool.runtime import BackendOptions, pipeline
t_import = time.perf_counter()
from edgetool.bench.measure import peak_rss_mb, read_sample
spec = json.loads(sys.argv[1])
sample = read_sample(spec["sample"])
t1 = time.perf_counter()
pipe = pipeline(spec["bundle"], backend=spec["backend"], precision=spec["precision"],
                options=BackendOptions(threads=spec["threads"]))
t_load = time.perf_counter()
pipe(*sample.args, **sample.kwargs)
t_first = time.perf_counter()
for _ in range(spec["extra_runs"]):
    pipe(*sample.args, **sample.kwargs)
print(json.dumps({"import_s": t_import - t0, "load_s": t_load - t1, "first_s": t_first - t_load,
                  "cold_start_s": (t_import - t0) + (t_first - t1),
                  "peak_rss_mb": peak_rss_mb()}))
"""


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries ru_maxrss over execve, so a
    child forked from a big parent would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def write_sample(sample: Sample, path: Path) -> Path:
    """A sample on disk for child processes: JSON + .npz (no pickle)."""
    from edgetool.check.golden import _encode

    arrays: dict[str, np.ndarray] = {}
    doc = {"args": _encode(list(sample.args), arrays, "a"), "kwargs": _encode(dict(sample.kwargs), arrays, "k")}
    np.savez(str(path) + ".npz", **arrays)
    Path(str(path) + ".json").write_text(json.dumps(doc), encoding="utf-8")
    return path


def read_sample(path) -> Sample:
    from edgetool.check.golden import _decode

    doc = json.loads(Path(str(path) + ".json").read_text(encoding="utf-8"))
    with np.load(str(path) + ".npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return Sample(_decode(doc["args"], arrays), _decode(doc["kwargs"], arrays))


def child_env(threads: int | None, verify_key: Path | None = None) -> dict:
    env = dict(os.environ)
    if threads:
        env.setdefault("OMP_NUM_THREADS", str(threads))
    if verify_key is not None:
        from edgetool.runtime.bundle import VERIFY_KEY_ENV

        env[VERIFY_KEY_ENV] = str(Path(verify_key).resolve())
    return env


def run_child(argv: list[str], env: dict, timeout: float = 600) -> dict:
    """Run a measuring child; its last stdout line is JSON. Adds the wall time of the whole process."""
    t = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": f"cold-start process failed: {tail}"}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_s"] = wall
    return out


# The same graph with nothing of edgetool: import the engine, open a session on the artifact, run the first
# call's inputs (prepared ahead, no hashing, no pre-processing) — the floor edgetool's cold start is held to.
_BARE_CHILD = r"""
import time
t0 = time.perf_counter()
import json, sys
import numpy as np
spec = json.loads(sys.argv[1])
if spec["backend"] == "onnxruntime":
    import onnxruntime as ort
    t_import = time.perf_counter()
    with np.load(spec["feeds"]) as npz:
        feeds = {k: npz[k] for k in npz.files}
    t1 = time.perf_counter()
    so = ort.SessionOptions()
    if spec["threads"]:
        so.intra_op_num_threads = spec["threads"]
    ort.InferenceSession(spec["model"], so, providers=["CPUExecutionProvider"]).run(None, feeds)
else:
    import openvino as ov
    t_import = time.perf_counter()
    with np.load(spec["feeds"]) as npz:
        feeds = {k: npz[k] for k in npz.files}
    t1 = time.perf_counter()
    config = {"INFERENCE_NUM_THREADS": spec["threads"]} if spec["threads"] else {}
    ov.Core().compile_model(spec["model"], "CPU", config)(feeds)
t_first = time.perf_counter()
print(json.dumps({"bare_cold_start_s": (t_import - t0) + (t_first - t1)}))
"""


def bare_cold_start(bundle, g: "_Group", work: Path, threads: int | None) -> dict:
    """The engine's own cold start on the group's single graph (nothing for multi-graph bundles or TensorRT)."""
    if g.first_feeds is None or len(bundle.graphs) != 1 or g.backend not in ("onnxruntime", "openvino"):
        return {}
    from edgetool.runtime.backends import backend_class

    cls = backend_class(g.backend)
    art = next(iter(bundle.select(cls.formats, g.precision, cls.name).values()))
    feeds = work / f"feeds-{g.backend}-{g.precision}.npz"
    np.savez(feeds, **g.first_feeds)
    spec = {"backend": g.backend, "model": str(bundle.root / art.path), "feeds": str(feeds), "threads": threads}
    out = run_child([sys.executable, "-c", _BARE_CHILD, json.dumps(spec)], child_env(threads))
    feeds.unlink(missing_ok=True)
    return {k: v for k, v in out.items() if k == "bare_cold_start_s"}


def cold_start(bundle_root: Path, backend: str, precision: str, sample_path: Path, threads: int | None,
               extra_runs: int = 3, verify_key: Path | None = None) -> dict:
    spec = {"bundle": str(bundle_root), "backend": backend, "precision": precision, "threads": threads,
            "sample": str(sample_path), "extra_runs": extra_runs}
    return run_child([sys.executable, "-c", _CHILD, json.dumps(spec)], child_env(threads, verify_key))


# -- the run --------------------------------------------------------------------------------------
class _Bar:
    """A dependency-free progress bar on stderr."""

    def __init__(self, total: int, quiet: bool, stream=None):
        self.total, self.quiet, self.n = max(1, total), quiet, 0
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()

    def update(self, label: str, n: int = 1) -> None:
        self.n += n
        if self.quiet:
            return
        width = 28
        done = int(width * self.n / self.total)
        eta = (time.perf_counter() - self.t0) / self.n * (self.total - self.n) if self.n else 0
        self.stream.write(f"\r  [{'#' * done}{'.' * (width - done)}] {self.n}/{self.total} {label[:28]:<28} "
                          f"eta {eta:4.0f}s")
        self.stream.flush()

    def message(self, text: str) -> None:
        if not self.quiet:
            self.stream.write(f"\r{' ' * 90}\r{text}\n")
            self.stream.flush()

    def close(self) -> None:
        if not self.quiet:
            self.stream.write(f"\r{' ' * 90}\r")
            self.stream.flush()


def _blocks(runs: int, block: int) -> list[int]:
    """Split `runs` timed calls into blocks of at most `block`."""
    block = max(1, block)
    return [block] * (runs // block) + ([runs % block] if runs % block else [])


def _percentiles(ms: list[float]) -> dict:
    a = np.asarray(ms, dtype=np.float64)
    return {"p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)), "p99": float(np.percentile(a, 99)),
            "mean": float(a.mean()), "min": float(a.min()), "max": float(a.max()), "std": float(a.std())}


def _median_dict(rows: list[dict]) -> dict:
    keys = {k for r in rows for k, v in r.items() if isinstance(v, (int, float)) and v is not None}
    return {k: float(np.median([r[k] for r in rows if r.get(k) is not None])) for k in sorted(keys)}


def run_bench(opts: BenchOptions, torch_factory=None) -> dict:
    """Measure every selected group. torch_factory(bundle, sample, opts) -> (call, cold_start_fn, size_mb) is
    the transformers baseline (edgetool.export.torch_pipeline; the runtime never imports torch)."""
    from edgetool.runtime.backends import BackendOptions
    from edgetool.runtime.bundle import Bundle
    from edgetool.runtime.errors import BundleError, EdgetoolError
    from edgetool.runtime.pipelines import pipeline_class
    from edgetool.runtime.pipelines.base import open_engines
    from edgetool.runtime.tasks import get_task

    for name, value, low in (("--batch", opts.batch, 1), ("--runs", opts.runs, 1), ("--warmup", opts.warmup, 0),
                             ("--block", opts.block, 1)):
        if value < low:
            raise UsageError(f"{name} must be >= {low}, got {value}.")
    if opts.threads is not None and opts.threads < 1:
        raise UsageError(f"--threads must be >= 1, got {opts.threads}.")
    bundle = Bundle.load(opts.bundle, verify_key=opts.verify_key)
    spec = get_task(bundle.task)
    cls = pipeline_class(spec)
    pairs = select_groups(bundle, opts)
    sample, described = bench_sample(bundle, opts)
    hooks = [h for h in BENCH_METRICS if h.applies(bundle, spec)]
    groups = [_Group(f"{be}/{prec}", be, prec) for be, prec in pairs]
    if opts.against_torch:
        groups.append(_Group(TORCH_GROUP, "torch", "fp32"))
    n_cold = len(groups) if opts.cold_start else 0
    bar = _Bar(n_cold + len(groups) * (opts.warmup + opts.runs) + len(groups), opts.quiet)
    work = Path(tempfile.mkdtemp(prefix="edgetool-bench-"))
    sample_path = write_sample(sample, work / "sample")
    torch_cold = None
    try:
        # load every group (in this process) ...
        for g in groups:
            bar.update(f"load {g.name}")
            try:
                if g.name == TORCH_GROUP:
                    if torch_factory is None:
                        raise EdgetoolError("--against torch needs the export extra (transformers, torch): "
                                            "pip install 'edgetool[export]'")
                    call, torch_cold, size = torch_factory(bundle, sample, opts)
                    g.call, g.result["size_mb"] = call, size
                    continue
                engines = open_engines(bundle, g.backend, g.precision, BackendOptions(threads=opts.threads))
                pipe = cls(bundle, engines={n: _TimedEngine(e, n, g) for n, e in engines.items()})
                g.call = (lambda p: lambda: p(*sample.args, **sample.kwargs))(pipe)
                g.result["size_mb"] = artifact_size_mb(bundle, g.backend, g.precision)
            except BundleError:
                raise  # a changed or unsigned bundle is refused as a whole, not benchmarked without a group
            except EdgetoolError as e:
                g.error = str(e).splitlines()[0]
                bar.message(f"  {g.name}: skipped ({g.error})")
        live = [g for g in groups if g.error is None]
        if not live:
            raise UsageError(f"No group of {bundle.root} could be loaded: " + "; ".join(f"{g.name}: {g.error}" for g in groups))
        # ... warm up, then measure in round-robin blocks with a rotating start: noise hits every group
        # alike, and each block starts with one untimed call — engines' thread pools go to sleep between
        # calls of other groups, and waking them is a cost of interleaving, not of the engine.
        for _ in range(opts.warmup):
            for g in live:
                g.call()
                bar.update(f"warmup {g.name}")
        for r, block in enumerate(_blocks(opts.runs, opts.block)):
            k = r % len(live)
            for g in live[k:] + live[:k]:
                if len(live) > 1:
                    g.call()
                for _ in range(block):
                    g.log = CallLog(time.perf_counter())
                    t = time.perf_counter()
                    g.call()
                    dt = time.perf_counter() - t
                    g.latencies.append(1000 * dt)
                    g.engine_times.append(1000 * sum(c[2] - c[1] for c in g.log.calls))
                    extra = {}
                    for h in hooks:  # the torch baseline has no engine calls: only log-free extras apply
                        extra.update(h.compute(sample, g.log, dt, opts.batch))
                    g.extras.append(extra)
                    bar.update(f"run {g.name}")
        # cold start and peak memory: fresh processes, after the warm runs (the page cache is warm for all)
        if opts.cold_start:
            for g in groups:
                bar.update(f"cold start {g.name}")
                if g.error:
                    continue
                if g.name == TORCH_GROUP:
                    g.result.update(torch_cold(sample_path) if torch_cold else {})
                else:
                    g.result.update(cold_start(bundle.root, g.backend, g.precision, sample_path, opts.threads,
                                               verify_key=opts.verify_key))
                    g.result.update(bare_cold_start(bundle, g, work, opts.threads))
    finally:
        bar.close()
        for suffix in (".json", ".npz"):
            Path(str(sample_path) + suffix).unlink(missing_ok=True)
        try:
            work.rmdir()
        except OSError:
            pass
    return _summarize(bundle, opts, groups, described, hooks)


def _summarize(bundle, opts: BenchOptions, groups: list[_Group], described: str, hooks) -> dict:
    results = []
    for g in groups:
        row = {"name": g.name, "backend": g.backend, "precision": g.precision}
        if g.error:
            results.append({**row, "skipped": g.error})
            continue
        lat = _percentiles(g.latencies)
        row.update(g.result)
        row["latency_ms"] = lat
        row["throughput_per_s"] = opts.batch * 1000.0 / lat["mean"] if lat["mean"] > 0 else None
        if g.name != TORCH_GROUP:
            engine = float(np.median(g.engine_times))
            row["engine_ms_p50"] = engine
            # paired per call (the call's time minus its own engine time): machine noise that slows a whole
            # call cancels, where a difference of two medians taken over different calls would keep it
            outside = float(np.median(np.subtract(g.latencies, g.engine_times)))
            row["overhead_ms_p50"] = outside
            row["overhead_pct"] = 100.0 * outside / engine if engine > 0 else None
        if g.extras:
            row.update({k: v for k, v in _median_dict(g.extras).items()})
        row["latencies_ms"] = [round(x, 4) for x in g.latencies]
        results.append(row)
    measured = [r for r in results if "latency_ms" in r]
    first = next((r for r in measured if r["name"] != TORCH_GROUP), measured[0] if measured else None)
    torch_row = next((r for r in measured if r["name"] == TORCH_GROUP), None)
    for r in measured:
        r["speedup_vs_first"] = first["latency_ms"]["p50"] / r["latency_ms"]["p50"]
        if torch_row is not None:
            r["speedup_vs_torch"] = torch_row["latency_ms"]["p50"] / r["latency_ms"]["p50"]
    return {
        "bundle": str(bundle.root),
        "task": bundle.task,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "options": {"batch": opts.batch, "runs": opts.runs, "warmup": opts.warmup, "threads": opts.threads,
                    "interleaved": "round-robin blocks", "block": opts.block, "cold_start": opts.cold_start},
        "input": described,
        "extras": [h.name for h in hooks],
        "baseline": first["name"] if first else None,
        "results": results,
    }


def _fmt(x, spec: str = ".2f", none: str = "-") -> str:
    return none if x is None else format(x, spec)


def format_bench(report: dict) -> str:
    m = report["machine"]
    o = report["options"]
    lines = [f"{report['task']}  {report['bundle']}",
             f"  input: {report['input']}; batch {o['batch']}, {o['runs']} runs after {o['warmup']} warm-up, "
             f"interleaved; threads {o['threads'] or 'engine default'}",
             f"  machine: {m['cpu']}, {m['cores']} cores; {report['date']}",
             f"  {'group':<18} {'size MB':>8} {'cold s':>7} {'bare s':>7} {'RSS MB':>7} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
             f"{'items/s':>8} {'overhd':>7} {'vs ' + (report['baseline'] or 'first'):>20} {'vs torch':>8}"]
    extras = []
    for r in report["results"]:
        if r.get("skipped"):
            lines.append(f"  {r['name']:<18} skipped: {r['skipped']}")
            continue
        lat = r["latency_ms"]
        cold = r.get("cold_start_s")
        lines.append(f"  {r['name']:<18} {_fmt(r.get('size_mb')):>8} {_fmt(cold):>7} {_fmt(r.get('bare_cold_start_s')):>7} "
                     f"{_fmt(r.get('peak_rss_mb'), '.0f'):>7} "
                     f"{lat['p50']:>8.3f} {lat['p90']:>8.3f} {lat['p99']:>8.3f} {_fmt(r.get('throughput_per_s'), '.1f'):>8} "
                     f"{_fmt(r.get('overhead_pct'), '.1f') + ('%' if r.get('overhead_pct') is not None else ''):>7} "
                     f"{_fmt(r.get('speedup_vs_first')) + 'x':>20} "
                     f"{(_fmt(r.get('speedup_vs_torch')) + 'x') if r.get('speedup_vs_torch') else '-':>8}")
        if r.get("error"):
            lines.append(f"    cold start: {r['error']}")
        bits = []
        if r.get("time_to_first_token_ms") is not None:
            bits.append(f"TTFT {r['time_to_first_token_ms']:.2f} ms")
        if r.get("tokens_per_s") is not None:
            bits.append(f"{r['tokens_per_s']:.1f} tokens/s ({int(r.get('new_tokens', 0))} tokens)")
        if r.get("decode_tokens_per_s") is not None:
            bits.append(f"decode {r['decode_tokens_per_s']:.1f} tokens/s")
        if r.get("real_time_factor") is not None:
            bits.append(f"RTF {r['real_time_factor']:.4f} ({r['x_real_time']:.1f}x real time)")
        if bits:
            extras.append(f"    {r['name']}: " + ", ".join(bits))
    if extras:
        lines.append("  task extras:")
        lines.extend(extras)
    return "\n".join(lines)


def bench_json(report: dict) -> str:
    from edgetool.check.validate import reports_json

    return reports_json(report)  # type: ignore[arg-type]
