"""ONNX Runtime target: the artifact is an ONNX file (ORT optimizes at session creation, so the bundle
stays portable across ORT versions). fp16 and int8 artifacts are converted/quantized ONNX files
(edgetool.quantize): fp16 with float32 I/O, int8 dynamic or static QDQ."""
from __future__ import annotations

import shutil
from pathlib import Path

from edgetool.runtime.errors import UsageError

from .base import BuildOptions, BuiltArtifact, Target


class OnnxTarget(Target):
    name = "onnx"
    format = "onnx"
    precisions = ("fp32", "fp16", "int8")
    backend = "onnxruntime"
    int8_methods = ("dynamic", "static")

    def build(self, onnx_path: Path, out_dir: Path, graph: str, options: BuildOptions, calibration=None) -> BuiltArtifact:
        self.check_precision(options.precision)
        out_dir.mkdir(parents=True, exist_ok=True)
        dest = out_dir / f"{graph}.onnx"
        extra = options.extra
        keep, exclude = int(extra.get("keep_fp32", 0)), tuple(extra.get("exclude", ()))
        details: dict = {}
        if options.precision == "fp16":
            from edgetool.quantize.fp16 import convert_fp16, fp16_candidates

            details = convert_fp16(onnx_path, dest, keep_nodes=tuple(fp16_candidates(onnx_path, keep)) + exclude)
        elif options.precision == "int8":
            from edgetool.quantize.int8_ort import quantize_dynamic_onnx, quantize_static_onnx

            method = extra.get("method", "dynamic")
            if method == "dynamic":
                details = quantize_dynamic_onnx(onnx_path, dest, keep, exclude)
            elif method == "static":
                if calibration is None:
                    raise UsageError("INT8 static quantization needs calibration data: pass --calibration PATH.")
                details = quantize_static_onnx(onnx_path, dest, calibration.feeds(graph),
                                               extra.get("calibration_method", "minmax"), keep, exclude)
            else:
                raise UsageError(f"Unknown INT8 method '{method}' for ONNX Runtime; expected dynamic or static.")
        elif Path(onnx_path).resolve() != dest.resolve():
            shutil.copyfile(onnx_path, dest)
        return BuiltArtifact(self.format, dest.name, [dest.name], details)
