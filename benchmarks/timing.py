"""Latency measurement shared by the benchmark scripts (run as `python benchmarks/X.py`: siblings import)."""
from __future__ import annotations

import time

import numpy as np


def timed_ms(fn) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1e3


def interleaved(groups: dict, runs: int, warmup: int = 5) -> dict:
    """Median milliseconds per group; the groups take turns call by call, so machine noise hits all alike."""
    for fn in groups.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in groups}
    for _ in range(runs):
        for k, fn in groups.items():
            times[k].append(timed_ms(fn))
    return {k: float(np.median(v)) for k, v in times.items()}
