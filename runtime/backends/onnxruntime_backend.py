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

    def run_in_place(self, feeds: dict[str, np.ndarray], shared: dict[str, str]) -> dict[str, np.ndarray]:
        """run(), with each output of `shared` (output name -> input name) written into that input's own
        array (IO binding: the kernel updates the buffer in place, nothing is copied or allocated for it).
        Returns the other outputs. The shared inputs must be C-contiguous float arrays the caller keeps."""
        ort = import_ort()
        checked = self.check_feeds(feeds)
        binding = self.session.io_binding()
        in_place = set(shared.values())
        for name, arr in checked.items():
            if name not in in_place:
                binding.bind_cpu_input(name, arr)
        rest = [o for o in self._names if o not in shared]
        for name in rest:  # bound first: get_outputs() lists outputs in binding order
            binding.bind_output(name)
        for out, inp in shared.items():
            arr = feeds[inp]
            if not (isinstance(arr, np.ndarray) and arr.flags.c_contiguous):
                raise ValueError(f"run_in_place: input '{inp}' must be a C-contiguous array (it is written in place)")
            value = ort.OrtValue.ortvalue_from_numpy(arr)
            binding.bind_ortvalue_input(inp, value)
            binding.bind_ortvalue_output(out, value)
        self.session.run_with_iobinding(binding)
        return {name: value.numpy() for name, value in zip(rest, binding.get_outputs()[:len(rest)])}

