"""text-classification latency: edgetool runtime (ORT, OpenVINO) vs transformers.pipeline (torch eager),
batch 1, one short sentence, median of N interleaved runs; plus export time, bundle size and cold start.

    .venv/bin/python benchmarks/text_classification.py [--size tiny|base] [--runs 50]

`base` is a BERT-base-sized classifier (hidden 768, 12 layers, random weights built in code).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SENTENCE = "I love this"


def checkpoint(size: str, work: Path) -> Path:
    from edgetool.export.reference import checkpoint_dir

    if size == "tiny":
        return checkpoint_dir("bert-tiny-classifier")
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    from edgetool.export.reference.text import SENTIMENT, tiny_bert_config

    out = work / "bert-base"
    src = checkpoint_dir("bert-tiny-classifier")
    AutoTokenizer.from_pretrained(str(src)).save_pretrained(str(out))
    torch.manual_seed(0)
    cfg = tiny_bert_config(len(AutoTokenizer.from_pretrained(str(src))), hidden_size=768, num_hidden_layers=12,
                           num_attention_heads=12, intermediate_size=3072, max_position_embeddings=512,
                           initializer_range=0.02, id2label=SENTIMENT, label2id={v: k for k, v in SENTIMENT.items()})
    BertForSequenceClassification(cfg).eval().save_pretrained(str(out))
    return out


def cold_start(bundle: Path, backend: str) -> float:
    code = ("import time; t=time.perf_counter(); from edgetool.runtime import pipeline; "
            f"p=pipeline({str(bundle)!r}, backend={backend!r}); p({SENTENCE!r}); print(time.perf_counter()-t)")
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="tiny", choices=["tiny", "base"])
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    from transformers import pipeline as hf_pipeline

    from edgetool.export.exporter import export
    from edgetool.export.options import ExportOptions
    from edgetool.runtime import pipeline

    work = Path(tempfile.mkdtemp(prefix="edgetool-clfbench-"))
    ckpt = checkpoint(args.size, work)
    t = time.perf_counter()
    bundle = export(ExportOptions(task="text-classification", model=ckpt, target="openvino", out=work / "b", quiet=True))
    export_s = time.perf_counter() - t
    size_mb = sum(f.stat().st_size for f in bundle.rglob("*") if f.is_file()) / 1e6
    engines = {"transformers pipeline (torch eager)": hf_pipeline("text-classification", model=str(ckpt), device="cpu"),
               "edgetool onnxruntime": pipeline(bundle, backend="onnxruntime"),
               "edgetool openvino": pipeline(bundle, backend="openvino")}
    times = {k: [] for k in engines}
    for fn in engines.values():
        for _ in range(3):
            fn(SENTENCE)
    for _ in range(args.runs):
        for name, fn in engines.items():
            t = time.perf_counter()
            fn(SENTENCE)
            times[name].append(time.perf_counter() - t)
    print(f"# text-classification ({args.size}), {time.strftime('%Y-%m-%d')}, batch 1, median of {args.runs}\n")
    print(f"export (onnx + openvino, parity checked): {export_s:.1f} s; bundle size {size_mb:.2f} MB")
    print(f"cold start (fresh process: import, load, first result): onnxruntime {cold_start(bundle, 'onnxruntime'):.2f} s, "
          f"openvino {cold_start(bundle, 'openvino'):.2f} s\n")
    base = np.median(times["transformers pipeline (torch eager)"])
    print("| engine | p50 (ms) | p90 (ms) | speed-up |\n|---|---|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {np.median(ts) * 1e3:.2f} | {np.percentile(ts, 90) * 1e3:.2f} | {base / np.median(ts):.2f}x |")


if __name__ == "__main__":
    main()
