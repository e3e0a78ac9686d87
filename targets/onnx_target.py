"""ONNX Runtime target: the artifact is the ONNX file itself (ORT optimizes at session creation,
so the bundle stays portable across ORT versions)."""
from __future__ import annotations

import shutil
from pathlib import Path

from .base import BuildOptions, BuiltArtifact, Target


class OnnxTarget(Target):
    name = "onnx"
    format = "onnx"
    precisions = ("fp32", "fp16", "int8")
    backend = "onnxruntime"

    def build(self, onnx_path: Path, out_dir: Path, graph: str, options: BuildOptions, calibration=None) -> BuiltArtifact:
        out_dir.mkdir(parents=True, exist_ok=True)
        dest = out_dir / f"{graph}.onnx"
        if Path(onnx_path).resolve() != dest.resolve():
            shutil.copyfile(onnx_path, dest)
        return BuiltArtifact(self.format, dest.name, [dest.name])
