"""object-detection latency, batch 1, p50 of N interleaved runs on one 64x48 picture (tiny reference models).

- DETR: edgetool runtime (ORT, OpenVINO) vs transformers.pipeline("object-detection") (torch eager).
- YOLO-style: edgetool runtime, NumPy NMS and --nms-in-graph (ORT, OpenVINO), vs the same work in
  PyTorch eager (letterbox + forward + torchvision-free NumPy NMS) — transformers has no pipeline for it.

    .venv/bin/python benchmarks/object_detection.py [--runs 50]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from timing import interleaved


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    import torch
    from PIL import Image
    from transformers import AutoModelForObjectDetection, pipeline as hf_pipeline

    from edgetool.export.exporter import export
    from edgetool.export.options import ExportOptions
    from edgetool.export.reference import checkpoint_dir
    from edgetool.runtime import pipeline
    from edgetool.runtime.backends import BackendOptions
    from edgetool.runtime.postprocess.nms import detect
    from edgetool.runtime.preprocess.letterbox import letterbox

    torch.set_num_threads(1)
    opts = BackendOptions(threads=1)
    work = Path(tempfile.mkdtemp(prefix="edgetool-detbench-"))
    rng = np.random.default_rng(0)
    img = np.kron(rng.integers(0, 255, (6, 8, 3)), np.ones((8, 8, 1))).astype(np.uint8)  # 48 x 64
    pil = Image.fromarray(img)

    def bundle(ref, **extra):
        return export(ExportOptions(task="object-detection", reference=ref, target="openvino", quiet=True,
                                    out=work / f"{ref}-{len(extra)}", extra=extra))

    detr = bundle("detr-tiny")
    hf = hf_pipeline("object-detection", model=str(checkpoint_dir("detr-tiny")))
    groups = {"transformers pipeline (torch)": lambda: hf(pil, threshold=0.0)}
    for be in ("onnxruntime", "openvino"):
        p = pipeline(detr, backend=be, options=opts)
        groups[f"edgetool {be}"] = lambda p=p: p(img, threshold=0.0)
    report("DETR (d_model 32, 2+2 layers, ResNet-2-stage backbone)", interleaved(groups, args.runs))

    yolo, yolo_nms = bundle("yolo-tiny"), bundle("yolo-tiny", nms_in_graph=True)
    import edgetool.export.reference.detection  # noqa: F401

    model = AutoModelForObjectDetection.from_pretrained(str(checkpoint_dir("yolo-tiny"))).eval()

    def torch_eager():
        canvas, lb = letterbox(img, 64)
        with torch.no_grad():
            o = model(pixel_values=torch.from_numpy(canvas[None]))
        b, s, lab = detect(o["boxes"][0].numpy(), o["scores"][0].numpy(), 0.25, 0.45, 100)
        return lb.unmap(b), s, lab

    groups = {"PyTorch eager + NumPy NMS": torch_eager}
    for be in ("onnxruntime", "openvino"):
        for name, b in (("NumPy NMS", yolo), ("NMS in graph", yolo_nms)):
            p = pipeline(b, backend=be, options=opts)
            groups[f"edgetool {be}, {name}"] = lambda p=p: p(img)
    report("YOLO-style (64x64 letterbox, 3 convs + head, 192 anchors x 3 classes)", interleaved(groups, args.runs))
    p = pipeline(yolo, backend="onnxruntime", options=opts)
    batch = [img] * 8
    q = pipeline(yolo_nms, backend="onnxruntime", options=opts)
    report("YOLO-style batch of 8 (one engine call), onnxruntime",
           interleaved({"edgetool NumPy NMS": lambda: p(batch),
                        "edgetool NMS in graph": lambda: q(batch)},
                       args.runs))


def report(title: str, res: dict) -> None:
    base = next(iter(res.values()))
    print(f"\n{title}: p50 ms (speed-up vs the first row)")
    for k, v in res.items():
        print(f"  {k:<40} {v:8.3f}  {base / v:5.2f}x")


if __name__ == "__main__":
    main()
