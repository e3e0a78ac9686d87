"""The first call after other processes kept the cores busy (a camera decoder beside the model, another
model's burst): how long it takes against a call after a quiet pause and against steady state.

    .venv/bin/python benchmarks/busy_cores.py BUNDLE [--rounds 15] [--busy-s 1.0] [--busy-procs 2]

Groups, each in this process, taking turns round by round so machine noise hits all alike:
  edgetool    the bundle's pipeline (ONNX Runtime fp32, engine-default threads)
  ort         a bare ONNX Runtime session on the same artifact, inputs prepared ahead
  ort-nospin  the same with `session.intra_op.allow_spinning = 0` (workers sleep right after each call)
  ort-1t      the same with one intra-op thread
  numpy-read  no engine: NumPy sums an array the size of the model file (one thread)
Each round, per group: for each of `--pauses`, a pause (sleep) then one timed call ("quiet Ns"); `--busy-procs` processes spin
for `--busy-s` and exit, then one timed call ("after busy"); one untimed call, 1 GiB allocated at start read
through in this process (caches refilled; no pause, no page fault), one timed call ("after evict"); then five back-to-back
calls ("steady").
Prints medians in milliseconds.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import timed_ms  # noqa: E402


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1


def busy(procs: int, seconds: float) -> None:
    """Other processes keep every core busy, then exit (joined: they are gone before the next call)."""
    workers = [mp.Process(target=_spin, args=(seconds,)) for _ in range(procs)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


_BUFFER: list = []


def evict(mib: int = 1024) -> None:
    """Read through `mib` of memory allocated once at start: no pause, no other process, no page fault —
    only the CPU caches refilled with something else."""
    import numpy as np

    if not _BUFFER:
        _BUFFER.append(np.ones(mib << 18, dtype=np.float32))
    float(_BUFFER[0].sum())


def groups(bundle_dir: str) -> dict:
    import onnxruntime as ort

    from edgetool.runtime import pipeline
    from edgetool.runtime.bundle import Bundle

    bundle = Bundle.load(bundle_dir)
    pipe = pipeline(bundle, backend="onnxruntime", precision="fp32")
    text = "The quick brown fox jumps over the lazy dog near the river bank."
    engine = next(iter(pipe.engines.values()))
    feeds = pipe.preprocess(pipe.split(text, pipe.sanitize())[0], pipe.sanitize()).feeds
    path = str(bundle.file(engine.artifact.path))

    def session(**config):
        so = ort.SessionOptions()
        threads = config.pop("threads", None)
        if threads:
            so.intra_op_num_threads = threads
        for k, v in config.items():
            so.add_session_config_entry(k, v)
        s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        names = {i.name for i in s.get_inputs()}
        f = {k: v for k, v in feeds.items() if k in names}
        return lambda: s.run(None, f)

    import numpy as np

    weights = np.ones(Path(path).stat().st_size // 4, dtype=np.float32)  # no engine: memory the model's size
    return {"edgetool": lambda: pipe(text), "ort": session(),
            "ort-nospin": session(**{"session.intra_op.allow_spinning": "0"}), "ort-1t": session(threads=1),
            "numpy-read": lambda: float(weights.sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--busy-s", type=float, default=1.0)
    ap.add_argument("--busy-procs", type=int, default=2)
    ap.add_argument("--pauses", default="0.05,1", help="Quiet pauses (s) before an 'after quiet' call, comma-separated.")
    ap.add_argument("--groups", default="edgetool,ort,ort-nospin,ort-1t,numpy-read")
    args = ap.parse_args()
    pauses = [float(p) for p in args.pauses.split(",")]
    calls = {k: v for k, v in groups(args.bundle).items() if k in args.groups.split(",")}
    evict()  # allocate the eviction buffer before anything is timed
    for fn in calls.values():
        for _ in range(5):
            fn()
    columns = [f"quiet {p:g}s" for p in pauses] + ["after busy", "after evict", "steady"]
    times: dict = {k: {c: [] for c in columns} for k in calls}
    for _ in range(args.rounds):
        for name, fn in calls.items():
            for p in pauses:
                time.sleep(p)
                times[name][f"quiet {p:g}s"].append(timed_ms(fn))
            busy(args.busy_procs, args.busy_s)
            times[name]["after busy"].append(timed_ms(fn))
            fn()
            evict()
            times[name]["after evict"].append(timed_ms(fn))
            times[name]["steady"] += [timed_ms(fn) for _ in range(5)]
    print(f"{'group':<12}" + "".join(f"{c:>12}" for c in columns) + f"   (median ms, {args.rounds} rounds)")
    for name, t in times.items():
        print(f"{name:<12}" + "".join(f"{statistics.median(v):>12.1f}" for v in t.values()))


if __name__ == "__main__":
    main()
