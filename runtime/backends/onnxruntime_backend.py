"""ONNX Runtime backend (CPU by default; any installed execution provider via options.device)."""
from __future__ import annotations

import numpy as np

from ..errors import EngineMissingError
from .base import Backend


def import_ort():
    try:
        import onnxruntime
    except ImportError:
        raise EngineMissingError(
            "No inference engine: ONNX Runtime is not installed (import of 'onnxruntime' failed), and edgetool's plain "
            "install carries no engine. Install one: pip install 'edgetool[onnxruntime]' (CPU), "
            "'edgetool[onnxruntime-gpu]' (NVIDIA GPUs, Jetsons), 'edgetool[openvino]', or 'edgetool[tensorrt]'; "
            "edgetool doctor shows what this machine has.") from None
    return onnxruntime


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    formats = ("onnx",)

    def _load(self) -> None:
        ort = import_ort()
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.options.threads:
            so.intra_op_num_threads = self.options.threads
        so.log_severity_level = 3
        providers = [self.options.device] if self.options.device else ["CPUExecutionProvider"]
        available = ort.get_available_providers()
        if any(p not in available for p in providers):
            raise EngineMissingError(
                f"ONNX Runtime provider(s) {providers} not available here (available: {available}). "
                "Install the onnxruntime build that ships them, or drop --device."
            )
        self.session = ort.InferenceSession(str(self.path), so, providers=providers)
        self._names = [o.name for o in self.session.get_outputs()]

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self._names, self.session.run(self._names, feeds)))
