"""ONNX Runtime backend (CPU by default; any installed execution provider via options.device)."""
from __future__ import annotations

import numpy as np

from ..errors import EngineMissingError, UsageError
from ..names import PER_TOKEN_GRAPHS
from . import huge_pages
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
        # a per-token graph's weights (prepacked for the CPU kernels) on 2 MB pages: huge_pages.py says why
        per_token = self.graph.name in PER_TOKEN_GRAPHS and providers == ["CPUExecutionProvider"]
        before = huge_pages.snapshot() if per_token else None
        self.session = ort.InferenceSession(str(self.path), so, providers=providers)
        self.huge_page_bytes = huge_pages.keep_new(before) if before is not None else 0
        self._names = [o.name for o in self.session.get_outputs()]

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self._names, self.session.run(self._names, feeds)))

    def bind_in_place(self, buffers: dict[str, np.ndarray], shared: dict[str, str]):
        """A runner feeds -> outputs whose every call writes each output of `shared` (output name -> input name)
        into that input's array in `buffers` (IO binding, bound once: the kernel updates the buffer in place,
        nothing is copied or allocated for it). `feeds` holds the other inputs; the runner returns the other
        outputs. The buffers must stay alive and unmoved while the runner is used (a new buffer: bind again)."""
        ort = import_ort()
        for name, arr in buffers.items():
            spec = self._inputs[name]
            if not (isinstance(arr, np.ndarray) and arr.flags.c_contiguous and arr.dtype == np.dtype(spec.dtype)
                    and arr.ndim == len(spec.shape)):
                raise ValueError(f"bind_in_place: '{name}' must be a C-contiguous {spec.dtype} array of rank "
                                 f"{len(spec.shape)} (it is written in place)")
        binding = self.session.io_binding()
        rest = [o for o in self._names if o not in shared]
        for name in rest:  # bound first: get_outputs() lists outputs in binding order
            binding.bind_output(name)
        values = []  # the OrtValues must outlive the binding's runs
        for out, inp in shared.items():
            value = ort.OrtValue.ortvalue_from_numpy(buffers[inp])
            binding.bind_ortvalue_input(inp, value)
            binding.bind_ortvalue_output(out, value)
            values.append(value)
        # (name, dtype, rank, spec): the checks' values made once, not per step
        fed = [(name, np.dtype(spec.dtype), len(spec.shape), spec) for name, spec in self._inputs.items()
               if name not in buffers]
        return _InPlaceRunner(self.session, binding, rest, fed, values, self.graph.name)


class _InPlaceRunner:
    """feeds -> outputs on a binding whose cache buffers are bound once (OnnxRuntimeBackend.bind_in_place).

    Decode steps repeat the same shapes, and each bind call costs more than the small copy it saves (~0.2 ms a
    step at batch 1, measured between runs): an input whose shape did not change since the last call is copied
    into the buffer already bound, and an output array passed again (the same object) stays bound."""

    def __init__(self, session, binding, outputs: list[str], fed: list, values: list, graph: str):
        # `values`: the buffers' OrtValues, kept alive as long as the binding is used
        self.session, self.binding, self.outputs, self.fed, self.values, self.graph = \
            session, binding, outputs, fed, values, graph
        self.ort = import_ort()
        self.held: dict[str, tuple] = {}  # input name -> (its bound buffer, the buffer's OrtValue)
        self.bound: dict[str, tuple] = {}  # output name -> (the caller's array it is bound to, that array's shape)

    def __call__(self, feeds: dict[str, np.ndarray], out: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """`out`: C-contiguous arrays of the right shape and dtype the outputs of those names are written to (no
        output to allocate, and no OrtValue per output to wrap afterwards); the others are allocated."""
        binding, out = self.binding, out or {}
        for name, dtype, rank, spec in self.fed:
            arr = feeds[name]
            if arr.dtype != dtype or arr.ndim != rank:
                raise UsageError(f"Input '{name}' of graph '{self.graph}' must be {spec.dtype} of rank "
                                 f"{len(spec.shape)}, got {arr.dtype} of rank {arr.ndim}.")
            held = self.held.get(name)
            if held is not None and held[0].shape == arr.shape:
                np.copyto(held[0], arr)
            else:  # a buffer of its own: the caller may change its array after the call
                buf = np.array(arr, dtype=dtype, order="C")
                value = self.ort.OrtValue.ortvalue_from_numpy(buf)
                binding.bind_ortvalue_input(name, value)
                self.held[name] = (buf, value)
        for name in self.outputs:
            given = out.get(name)
            if given is None:  # allocated by the engine: bound each call (a bound output keeps the last call's shape)
                binding.bind_output(name)
                self.bound.pop(name, None)
            elif name not in self.bound or self.bound[name][0] is not given or self.bound[name][1] != given.shape:
                binding.bind_output(name, "cpu", 0, given.dtype, list(given.shape), given.ctypes.data)
                self.bound[name] = (given, given.shape)
        self.session.run_with_iobinding(binding)
        if all(name in out for name in self.outputs):
            return dict(out)
        return {name: out[name] if name in out else value.numpy()
                for name, value in zip(self.outputs, binding.get_outputs()[:len(self.outputs)])}
