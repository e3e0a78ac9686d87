"""TensorRT backend: runs a plan with the named I/O-tensor API (TensorRT 8.5+ / 10).

Given an ONNX artifact it takes the engine from the device's cache, building it on first use from
the artifact's recipe (see build.py and profiles.py beside this file). Host buffers are NumPy; device memory goes through
cuda-python or, when that is absent, ctypes to libcudart — no torch, no pycuda. Importing this module
needs nothing; instantiating checks the machine and raises EngineMissingError naming what is missing.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from edgetool.runtime.errors import EdgetoolError, EngineMissingError, UnsupportedError, UsageError

from ..base import Backend
from . import build, cuda
from .cuda import D2H, H2D
from .cache import default_cache_dir
from .profiles import SHAPES_EXAMPLE, recipe_from_options



class TensorRTBackend(Backend):
    name = "tensorrt"
    formats = ("tensorrt-plan", "onnx")

    def _load(self) -> None:
        self.engine: Any = None
        self._buffers: dict[str, tuple[int, int]] = {}  # tensor -> (device pointer, capacity in bytes)
        self._stream = None
        self.trt = build.check_engine_environment()
        if (self.options.device or "0") not in ("0", "cuda", "cuda:0", "GPU", "gpu"):
            raise UsageError(f"--device {self.options.device!r}: TensorRT runs on the current CUDA device; pick "
                             "the GPU with CUDA_VISIBLE_DEVICES=N instead.")
        self.cuda = cuda.cuda_api()
        self.cache_dir = Path(self.options.cache_dir) if self.options.cache_dir else default_cache_dir()
        self.engine_path: Path | None = None
        if self.path.suffix in (".plan", ".engine"):
            self._open(self.path)
        # An ONNX artifact is built on first use (or by prepare()): open_engines sets self.artifact,
        # whose options hold the recipe, only after construction.

    def prepare(self) -> Path:
        """Find the cached engine (or, with extra={"build": True}, build it) and load it now instead of on the
        first call; returns the plan path. Building takes minutes, so the runtime does it only when asked."""
        if self.engine is None:
            recipe = self.options.extra.get("trt_recipe")
            art = getattr(self, "artifact", None)
            if recipe is None:
                precision = art.precision if art else "fp32"
                recipe = recipe_from_options(art.options if art and art.target == "trt" else None,
                                                       self.graph, precision)
            if self.options.extra.get("strongly_typed"):
                recipe = dict(recipe, typing="strong")
            sha = art.files.get(art.path) if art else None  # the bundle already verified it (every file)
            # the artifact's other files sit beside its path in the bundle: its root is that many levels up
            if art:
                root = self.path.parents[len(PurePosixPath(art.path).parts) - 1]
                files = art.files
            else:  # a bare ONNX and a recipe (extra["trt_recipe"]): its fp16 ONNX is a file beside it
                root, files = self.path.parent, {p.name: None for p in self.path.parent.glob("*.onnx")}
            strong = build.strong_onnx_of(recipe, files, lambda rel: root / rel)
            may_build = bool(self.options.extra.get("build"))
            if may_build:
                path = build.build_engine(self.path, recipe, self.cache_dir, onnx_sha256=sha, strong_onnx=strong)
            else:
                path = build.cached_engine(self.path, recipe, self.cache_dir, onnx_sha256=sha, strong_onnx=strong)
            if not self._open(path, rebuildable=may_build):  # a corrupt cache entry: build it again once
                self._open(build.build_engine(self.path, recipe, self.cache_dir, onnx_sha256=sha, force=True,
                                              strong_onnx=strong))
        assert self.engine_path is not None, "_open sets engine_path"
        return self.engine_path

    def _open(self, path: Path, rebuildable: bool = False) -> bool:
        trt = self.trt
        runtime = trt.Runtime(build.trt_logger(trt))
        engine = runtime.deserialize_cuda_engine(Path(path).read_bytes())
        if engine is None:
            if rebuildable:
                return False
            raise EngineMissingError(
                f"TensorRT {trt.__version__} could not load the engine {path}: a plan only loads with the TensorRT "
                "version and GPU model that built it. Build it here from the bundle's ONNX: edgetool build BUNDLE.")
        self._runtime, self.engine, self.engine_path = runtime, engine, Path(path)  # the runtime must outlive the engine
        self.context = engine.create_execution_context()
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self._in = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self._out = [n for n in names if n not in self._in]
        self._np = {n: np.dtype(trt.nptype(engine.get_tensor_dtype(n))) for n in names}
        self._stream = self.cuda.stream_create()
        return True

    def _buffer(self, name: str, nbytes: int) -> int:
        """Device memory for a tensor, grown when a call needs more (never shrunk: shapes repeat)."""
        ptr, capacity = self._buffers.get(name, (0, 0))
        nbytes = max(nbytes, 1)  # empty tensors (a zero-length cache) still need a valid address
        if nbytes > capacity:
            if ptr:
                self.cuda.free(ptr)
            ptr, capacity = self.cuda.malloc(nbytes), nbytes
            self._buffers[name] = (ptr, capacity)
        return ptr

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.prepare()
        ctx, stream = self.context, self._stream
        hold = []  # host arrays must stay alive until the stream is synchronized
        for name in self._in:
            # e.g. int64 ids into an INT32 engine input (TensorRT < 10 has no INT64 I/O)
            arr = np.ascontiguousarray(feeds[name], dtype=self._np[name])
            if not ctx.set_input_shape(name, arr.shape):
                lo, _, hi = self.engine.get_tensor_profile_shape(name, 0)
                raise UsageError(
                    f"Input '{name}' has shape {list(arr.shape)}, outside the engine's profile (min {list(lo)}, "
                    f"max {list(hi)}). Rebuild with a wider range: edgetool build BUNDLE --shapes "
                    f"'{name}=MIN,OPT,MAX' (e.g. {SHAPES_EXAMPLE}).")
            ptr = self._buffer(name, arr.nbytes)
            self.cuda.copy(ptr, arr.ctypes.data, arr.nbytes, H2D, stream)
            ctx.set_tensor_address(name, ptr)
            hold.append(arr)
        outputs = {}
        for name in self._out:
            shape = tuple(ctx.get_tensor_shape(name))
            if any(d < 0 for d in shape):
                raise UnsupportedError(f"Output '{name}' has a data-dependent shape {list(shape)}; the TensorRT "
                                       "backend does not run such graphs. Use --backend onnxruntime.")
            out = np.empty(shape, self._np[name])
            ctx.set_tensor_address(name, self._buffer(name, out.nbytes))
            outputs[name] = out
        if not ctx.execute_async_v3(stream):
            raise EdgetoolError(f"TensorRT failed to run graph '{self.graph.name}' (the TensorRT log above says why).")
        for name, out in outputs.items():
            self.cuda.copy(out.ctypes.data, self._buffers[name][0], out.nbytes, D2H, stream)
        self.cuda.stream_sync(stream)
        del hold
        return {t.name: outputs[t.name].astype(t.dtype, copy=False) for t in self.graph.outputs if t.name in outputs}

    def close(self) -> None:
        """Free device memory now (also done when the backend is garbage-collected)."""
        cuda = getattr(self, "cuda", None)
        if cuda is None:  # construction stopped before the CUDA API was loaded: nothing was allocated
            return
        for ptr, _ in getattr(self, "_buffers", {}).values():
            cuda.free(ptr)
        self._buffers = {}
        if getattr(self, "_stream", None):
            cuda.stream_destroy(self._stream)
            self._stream = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: CUDA may already be gone
            pass
