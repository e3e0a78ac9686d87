"""OpenVINO backend. Parity needs the f32 inference-precision hint: CPUs with bf16 units may
otherwise run an FP32 IR in bf16 (differences of 1e-3..3e-2 were seen)."""
from __future__ import annotations

import numpy as np

from ..errors import engine_missing
from .base import Backend


def import_openvino():
    try:
        import openvino
    except ImportError:
        raise engine_missing("OpenVINO", "openvino", "openvino") from None
    return openvino


class OpenVINOBackend(Backend):
    name = "openvino"
    formats = ("openvino-ir", "onnx")
    cache_block = 32  # each new input shape costs a re-plan (~1-3 ms on a small decoder): keep shapes fixed

    def _load(self) -> None:
        ov = import_openvino()
        core = ov.Core()
        if self.options.cache_dir:
            core.set_property({"CACHE_DIR": self.options.cache_dir})
        config = {}
        if self.options.inference_precision != "default":
            config["INFERENCE_PRECISION_HINT"] = self.options.inference_precision
        if self.options.threads:
            config["INFERENCE_NUM_THREADS"] = self.options.threads
        model = core.read_model(str(self.path))
        self.compiled = core.compile_model(model, self.options.device or "CPU", config)
        self.request = self.compiled.create_infer_request()
        # An output tensor can carry several names (read from ONNX: the producing node's and the graph
        # output's); get_any_name() may return either, so prefer the name the bundle declares.
        declared = [t.name for t in self.graph.outputs]
        self._outputs = [(port, next((n for n in declared if n in port.get_names()), port.get_any_name()))
                         for port in self.compiled.outputs]

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        result = self.request.infer(feeds, share_inputs=True, share_outputs=True)
        # copy: OpenVINO reuses its output buffers on the next call
        return {name: np.array(result[port]) for port, name in self._outputs}
