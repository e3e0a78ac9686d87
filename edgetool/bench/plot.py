"""`edgetool bench --plot FILE.png`: latency distributions, one row per group.

matplotlib when installed (box plot over the raw latencies); otherwise a plain Pillow drawing of the
same box plot (min–p10 whisker, p25–p75 box, p50 line, p90/p99 ticks), so --plot works on a device
that has only the runtime and Pillow."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgetool.runtime.errors import UsageError, engine_missing


def plot_latencies(report: dict, path: Path) -> str:
    """Write the PNG; returns which library drew it."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise UsageError(f"--plot writes a PNG; give a file name ending in .png (got '{path.name}').")
    rows = [(r["name"], np.asarray(r["latencies_ms"], dtype=float)) for r in report["results"] if r.get("latencies_ms")]
    if not rows:
        raise UsageError("Nothing was measured, so there is nothing to plot.")
    path.parent.mkdir(parents=True, exist_ok=True)
    title = f"{report['task']} latency, batch {report['options']['batch']}, {report['options']['runs']} runs (interleaved)"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        _pillow(rows, title, path)
        return "pillow"
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.6 * len(rows)))
    ax.boxplot([v for _, v in rows], vert=False, whis=(1, 99), showfliers=True)
    ax.set_yticks(range(1, len(rows) + 1), [n for n, _ in rows])
    ax.set_xlabel("latency (ms)")
    ax.set_title(title, fontsize=10)
    for i, (_, v) in enumerate(rows, 1):
        ax.annotate(f"p50 {np.percentile(v, 50):.2f}", (np.percentile(v, 50), i + 0.3), fontsize=8, ha="center")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return "matplotlib"


def _pillow(rows, title: str, path: Path) -> None:
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        raise engine_missing("matplotlib or Pillow (for --plot)", "image", "matplotlib / PIL") from None
    W, left, right, top, row_h = 900, 170, 40, 50, 46
    H = top + row_h * len(rows) + 60
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    d.text((10, 12), title, fill="black")
    hi = max(float(np.percentile(v, 99.5)) for _, v in rows) * 1.05
    lo = 0.0
    x = lambda ms: left + (W - left - right) * (min(ms, hi) - lo) / (hi - lo or 1)  # noqa: E731
    for i, (name, v) in enumerate(rows):
        y = top + row_h * i + row_h // 2
        p = {q: float(np.percentile(v, q)) for q in (1, 10, 25, 50, 75, 90, 99)}
        d.text((10, y - 6), name[:24], fill="black")
        d.line([(x(p[1]), y), (x(p[99]), y)], fill="gray", width=1)
        d.rectangle([x(p[25]), y - 12, x(p[75]), y + 12], outline="navy", fill=(200, 215, 240))
        d.line([(x(p[50]), y - 12), (x(p[50]), y + 12)], fill="darkred", width=2)
        for q in (90, 99):
            d.line([(x(p[q]), y - 6), (x(p[q]), y + 6)], fill="black", width=1)
        d.text((x(p[50]) + 4, y - 24), f"p50 {p[50]:.2f} ms", fill="darkred")
    axis_y = top + row_h * len(rows) + 10
    d.line([(left, axis_y), (W - right, axis_y)], fill="black")
    for k in range(6):
        ms = lo + (hi - lo) * k / 5
        d.line([(x(ms), axis_y), (x(ms), axis_y + 5)], fill="black")
        d.text((x(ms) - 12, axis_y + 8), f"{ms:.2f}", fill="black")
    d.text((W // 2 - 40, axis_y + 26), "latency (ms)", fill="black")
    img.save(path, format="PNG")
