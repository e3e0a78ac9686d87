"""ONNX Runtime target: the artifact is an ONNX file (ORT optimizes at session creation, so the bundle
stays portable across ORT versions). fp16 and int8 artifacts are converted/quantized ONNX files made by
edgetool.quantize (quantize/builds.py): fp16 with float32 I/O, int8 dynamic or static QDQ."""
from __future__ import annotations

import shutil
from pathlib import Path

from .base import BuildOptions, BuiltArtifact, Target


class OnnxTarget(Target):
    name = "onnx"
    format = "onnx"
    precisions = ("fp32", "fp16", "int8", "int4")
    backend = "onnxruntime"
    int8_methods = ("dynamic", "static", "weight-only")  # weight-only: MatMulNBits (decoder LLMs)

    def build(self, onnx_path: Path, out_dir: Path, graph: str, options: BuildOptions, calibration=None) -> BuiltArtifact:
        """The ONNX as it is: quantize/builds.py writes fp16 and int8 graphs and hands them over here."""
        self.check_precision(options.precision)
        out_dir.mkdir(parents=True, exist_ok=True)
        dest = out_dir / f"{graph}.onnx"
        if Path(onnx_path).resolve() != dest.resolve():
            shutil.copyfile(onnx_path, dest)
        return BuiltArtifact(self.format, dest.name, [dest.name], dict(options.extra.get("details", {})))
