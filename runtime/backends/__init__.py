"""Backend registry: name -> implementation, imported only when used (engines are optional)."""
from __future__ import annotations

import importlib

from ..errors import UsageError, did_you_mean
from ..names import TARGET_BACKEND
from .base import Backend, BackendOptions

# name -> ("module under edgetool.runtime.backends", "class")
BACKENDS: dict[str, tuple[str, str]] = {
    "onnxruntime": ("onnxruntime_backend", "OnnxRuntimeBackend"),
    "openvino": ("openvino_backend", "OpenVINOBackend"),
    "tensorrt": ("tensorrt.backend", "TensorRTBackend"),
}
ALIASES = {"ort": "onnxruntime", "onnx": "onnxruntime", "ov": "openvino", "trt": "tensorrt"}


def backend_class(name: str) -> type[Backend]:
    key = ALIASES.get(name, name)
    if key not in BACKENDS:
        raise UsageError(f"Unknown backend '{name}'.{did_you_mean(name, BACKENDS)} Known: {', '.join(BACKENDS)}")
    module, cls = BACKENDS[key]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


__all__ = ["Backend", "BackendOptions", "BACKENDS", "TARGET_BACKEND", "backend_class"]
