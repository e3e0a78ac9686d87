"""Build targets: name -> Target, imported lazily (each SDK is optional)."""
from __future__ import annotations

import importlib

from edgetool.runtime.errors import UsageError, did_you_mean

from .base import BuildOptions, BuiltArtifact, Target

TARGETS: dict[str, tuple[str, str]] = {
    "onnx": ("onnx_target", "OnnxTarget"),
    "openvino": ("openvino_target", "OpenVINOTarget"),
    "trt": ("tensorrt_target", "TensorRTTarget"),
}
ALIASES = {"onnxruntime": "onnx", "ort": "onnx", "ov": "openvino", "tensorrt": "trt"}


def get_target(name: str) -> Target:
    key = ALIASES.get(name, name)
    if key not in TARGETS:
        raise UsageError(f"Unknown target '{name}'.{did_you_mean(name, TARGETS)} Known: {', '.join(TARGETS)}")
    module, cls = TARGETS[key]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)()


__all__ = ["BuildOptions", "BuiltArtifact", "Target", "TARGETS", "get_target"]
