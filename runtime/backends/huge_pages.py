"""Back the memory an engine allocated while loading a per-token graph with transparent huge pages (Linux 6.1+).

A decoder streams all its weights through the CPU at every generated token: on 4 KB pages an 80 MB int4 model
is ~20,000 pages a step, each a TLB entry to walk to. Most distributions run transparent huge pages in
"madvise" mode, where anonymous memory gets 2 MB pages only where the process asks, and ONNX Runtime does not
ask. Measured on the SmolLM-135M-shaped benchmark (benchmarks/README.md, paired turns), the same int4 bundle
takes 4-23 % less time per token on huge pages, and sessions stop differing by when they were made.

`keep_new(before)` takes the address ranges that are new since `before` (a `snapshot()` taken before the load):
anonymous, private, read-write, 2 MB or more, and collapses them into huge pages in place (MADV_COLLAPSE).
Contents never change; where the kernel declines (older than 6.1, THP "never", memory too fragmented, another
OS) nothing happens. Only the collapse, once: the ranges are not marked (MADV_HUGEPAGE) for later faults, so
what malloc later places in them, after the engine frees some, stays on ordinary pages. Set
EDGETOOL_HUGE_PAGES=0 to turn it off.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

ENV = "EDGETOOL_HUGE_PAGES"
HUGE = 2 << 20
MADV_COLLAPSE = 25  # the asm-generic value, the same on x86-64 and aarch64
MAPS = "/proc/self/maps"

Ranges = list[tuple[int, int]]


def enabled() -> bool:
    return sys.platform.startswith("linux") and os.environ.get(ENV, "1") != "0" and os.path.exists(MAPS)


def snapshot() -> Ranges:
    """The anonymous private read-write mappings of this process now ([] where huge pages do not apply)."""
    if not enabled():
        return []
    out = []
    with open(MAPS) as f:
        for line in f:
            parts = line.split()
            # start-end perms offset dev inode [path]: anonymous is inode 0 with no path, or the brk heap (malloc
            # serves blocks up to 32 MB from it once it has freed a larger mapping)
            if parts[1] == "rw-p" and parts[4] == "0" and (len(parts) == 5 or parts[5] == "[heap]"):
                start, end = (int(x, 16) for x in parts[0].split("-"))
                out.append((start, end))
    return out


def new_ranges(before: Ranges, after: Ranges) -> Ranges:
    """The parts of `after` not in `before` (a mapping that grew contributes its new part). One pass over both
    sorted lists: a process with many libraries and sessions has thousands of mappings."""
    out, old, i = [], sorted(before), 0
    for start, end in sorted(after):
        while i < len(old) and old[i][1] <= start:  # old ranges wholly below this one are done with
            i += 1
        j = i
        while start < end and j < len(old) and old[j][0] < end:
            if old[j][0] > start:
                out.append((start, old[j][0]))
            start = max(start, old[j][1])
            j += 1
        if start < end:
            out.append((start, end))
    return out


def keep_new(before: Ranges) -> int:
    """Collapse the ranges mapped since `before`; the bytes the kernel collapsed."""
    if not enabled():
        return 0
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    done = 0
    for start, end in new_ranges(before, snapshot()):
        first, last = -(-start // HUGE) * HUGE, end // HUGE * HUGE  # whole huge pages inside the range
        if last - first < HUGE:
            continue
        if libc.madvise(first, last - first, MADV_COLLAPSE) == 0:
            done += last - first
    return done
