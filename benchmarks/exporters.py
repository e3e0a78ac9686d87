"""Legacy (TorchScript) vs dynamo ONNX exporter on the encoder graphs: export time, then the warm latency of
both ONNX files on the same engine (ONNX Runtime, OpenVINO reading the ONNX file), batch as traced, one
thread, the four groups in round-robin blocks of 5 calls (median of N). Outputs of the two files are compared too.

Models: a BERT-base-sized text classifier (hidden 768, 12 layers, random weights built in code, as in
run_all.py) and the tiny ViT, ConvNeXT, Wav2Vec2, SegFormer, GLPN, DETR, YOLO-style and
MaskFormer reference models (a graph that insists on an exporter is traced with both here).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/exporters.py [--runs 30] [--models bert-base,vit-tiny-classifier]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from timing import timed_ms

MODELS = {  # name -> task; "bert-base" is built in code, the others are reference models
    "bert-base": "text-classification",
    "vit-tiny-classifier": "image-classification",
    "convnext-tiny-classifier": "image-classification",
    "wav2vec2-tiny-classifier": "audio-classification",
    "segformer-tiny": "image-segmentation",
    "glpn-tiny": "depth-estimation",
    "detr-tiny": "object-detection",
    "yolo-tiny": "object-detection",
    "maskformer-tiny": "image-segmentation",
}


def blocked(groups: dict, runs: int, block: int = 5) -> dict:
    """Median ms per group, in round-robin blocks of `block` calls with a rotating start; each block starts
    with one untimed call (an engine's thread pool sleeps while the other groups run)."""
    keys = list(groups)
    times: dict = {k: [] for k in keys}
    for fn in groups.values():
        for _ in range(3):
            fn()
    for r in range(-(-runs // block)):
        for k in keys[r % len(keys):] + keys[:r % len(keys)]:
            groups[k]()
            times[k] += [timed_ms(groups[k]) for _ in range(block)]
    return {k: float(np.median(v)) for k, v in times.items()}


def graph_for(name: str, task: str, work: Path):
    from edgetool.export.exporter import load_for
    from edgetool.export.options import ExportOptions

    if name == "bert-base":
        from run_all import bert_base_checkpoint

        opts = ExportOptions(task=task, model=bert_base_checkpoint(work / "bert-base-random"), quiet=True)
    else:
        opts = ExportOptions(task=task, reference=name, quiet=True)
    graphs = load_for(opts)[2]
    assert len(graphs) == 1, f"{name}: one encoder graph expected"
    return graphs[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args()
    import onnx
    import torch

    from edgetool.export.onnx_export import export_graph
    from edgetool.runtime.backends import BackendOptions, backend_class

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="edgetool-exporterbench-"))
    opts = BackendOptions(threads=1)
    rows = []
    for name in args.models.split(","):
        g = graph_for(name, MODELS[name], work)
        g.dynamo = None  # both exporters, whatever the family or graph would choose
        feeds = {k: v.numpy() for k, v in g.inputs.items()}
        files, export_s, nodes = {}, {}, {}
        for exporter, dyn in (("legacy", False), ("dynamo", True)):
            path = work / name / f"{exporter}.onnx"
            t = time.perf_counter()
            spec = export_graph(g, path, 17, dyn)
            export_s[exporter] = time.perf_counter() - t
            nodes[exporter] = len(onnx.load(str(path), load_external_data=False).graph.node)
            files[exporter] = (path, spec)
        engines = {(be, ex): backend_class(be)(path, spec, opts)
                   for be in ("onnxruntime", "openvino") for ex, (path, spec) in files.items()}
        outs = {k: e.run(feeds) for k, e in engines.items()}
        diff = max(float(np.max(np.abs(outs[(be, "legacy")][o] - outs[(be, "dynamo")][o])))
                   for be in ("onnxruntime", "openvino") for o in g.outputs)
        ms = blocked({k: (lambda e=e, feeds=feeds: e.run(feeds)) for k, e in engines.items()}, args.runs)
        shape = "x".join(str(d) for d in next(iter(feeds.values())).shape)
        rows.append((name, shape, export_s, nodes, ms, diff))
        print(f"{name}: done", flush=True)
    print(f"\n{args.runs} runs per group in round-robin blocks of 5, 1 thread; p50 ms\n")
    print("| model (input) | export s legacy / dynamo | ONNX nodes legacy / dynamo | ORT legacy | ORT dynamo "
          "| OpenVINO legacy | OpenVINO dynamo | max abs diff |")
    print("|---|---|---|---|---|---|---|---|")
    for name, shape, export_s, nodes, ms, diff in rows:
        print(f"| {name} ({shape}) | {export_s['legacy']:.1f} / {export_s['dynamo']:.1f} | "
              f"{nodes['legacy']} / {nodes['dynamo']} | {ms[('onnxruntime', 'legacy')]:.2f} | "
              f"{ms[('onnxruntime', 'dynamo')]:.2f} | {ms[('openvino', 'legacy')]:.2f} | "
              f"{ms[('openvino', 'dynamo')]:.2f} | {diff:.1e} |")


if __name__ == "__main__":
    main()
