"""Dense prediction and ConvNeXT latency, batch 1, p50 of N interleaved runs (tiny reference models):
edgetool runtime (ONNX Runtime, OpenVINO) vs transformers.pipeline (torch eager) on the same weights.

Two picture sizes: 96x64 (the model input's scale, engine-bound) and 640x480 (upsampling the output
back to the picture dominates: SegFormer/MaskFormer masks, GLPN/DPT bicubic depth maps).

    .venv/bin/python benchmarks/dense_prediction.py [--runs 30] [--models segformer-tiny,glpn-tiny]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from object_detection import report
from timing import interleaved

MODELS = {  # reference -> (task, pipeline kwargs)
    "segformer-tiny": ("image-segmentation", {"subtask": "semantic"}),
    "maskformer-tiny": ("image-segmentation", {}),
    "glpn-tiny": ("depth-estimation", {}),
    "dpt-tiny": ("depth-estimation", {}),
    "depth-anything-tiny": ("depth-estimation", {}),
    "convnext-tiny-classifier": ("image-classification", {}),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args()
    import torch
    from PIL import Image
    from transformers import pipeline as hf_pipeline

    from edgetool.export.exporter import export
    from edgetool.export.options import ExportOptions
    from edgetool.export.reference import checkpoint_dir
    from edgetool.runtime import pipeline
    from edgetool.runtime.backends import BackendOptions

    torch.set_num_threads(1)
    opts = BackendOptions(threads=1)
    work = Path(tempfile.mkdtemp(prefix="edgetool-densebench-"))
    rng = np.random.default_rng(0)
    pictures = {"96x64": np.kron(rng.integers(0, 255, (12, 8, 3)), np.ones((8, 8, 1))).astype(np.uint8),
                "640x480": np.kron(rng.integers(0, 255, (60, 80, 3)), np.ones((8, 8, 1))).astype(np.uint8)}
    for ref in args.models.split(","):
        task, kw = MODELS[ref]
        bundle = export(ExportOptions(task=task, reference=ref, target="openvino", quiet=True, out=work / ref))
        hf = hf_pipeline(task, model=str(checkpoint_dir(ref)))
        ours = {be: pipeline(bundle, backend=be, options=opts) for be in ("onnxruntime", "openvino")}
        for name, img in pictures.items():
            pil = Image.fromarray(img)
            groups = {"transformers pipeline (torch)": lambda pil=pil, hf=hf, kw=kw: hf(pil, **kw)}
            for be, p in ours.items():
                groups[f"edgetool {be}"] = lambda p=p, img=img, kw=kw: p(img, **kw)
            report(f"{ref} ({task}), {name} picture", interleaved(groups, args.runs, warmup=3))


if __name__ == "__main__":
    main()
