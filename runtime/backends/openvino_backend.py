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
        config: dict[str, str | int] = {}
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
        # An IR built with --static-shapes: pad shorter inputs (and split batches) to its fixed dims.
        from .static_shapes import static_sizes

        self._in_dims = {t.name: t.shape for t in self.graph.inputs}
        fixed = {}
        for p in self.compiled.inputs:
            name = next((n for n in self._in_dims if n in p.get_names()), p.get_any_name())
            fixed[name] = tuple(d.get_length() if d.is_static else -1 for d in p.get_partial_shape())
        self._static = static_sizes(self._in_dims, fixed)

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._static:
            from .static_shapes import fit, unfit

            parts, actual = fit(feeds, self._in_dims, self._static)
            return unfit([self._infer(p) for p in parts], {t.name: t.shape for t in self.graph.outputs}, actual)
        return self._infer(feeds)

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        result = self.request.infer(feeds, share_inputs=True, share_outputs=True)
        # copy: OpenVINO reuses its output buffers on the next call
        return {name: np.array(result[port]) for port, name in self._outputs}
