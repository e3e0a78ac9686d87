"""edgetool.quantize: FP16 conversion, INT8 dynamic / static (QDQ) for ONNX Runtime, INT8 via NNCF for
OpenVINO, calibration through the bundle's own pipeline, and the accuracy report.

`add_precision(staged, target, opts)` is what `edgetool export --precision` calls;
`quantize_bundle(QuantizeOptions)` is `edgetool quantize`. Engines/SDKs are imported when used."""
from __future__ import annotations

from .accuracy_report import AccuracyDropError, format_table
from .options import QuantizeOptions
from .precision import add_precision, quantize_bundle

__all__ = ["AccuracyDropError", "QuantizeOptions", "add_precision", "format_table", "quantize_bundle"]
