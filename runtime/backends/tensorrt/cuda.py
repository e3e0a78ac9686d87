"""The machine: CUDA driver, CUDA runtime and GPUs, probed with ctypes (nothing to install), and the
small CUDA API the backend needs (cuda-python when present, else ctypes to libcudart)."""
from __future__ import annotations

import ctypes
import glob
import importlib.util
import os
from dataclasses import dataclass, field

from edgetool.runtime.errors import EdgetoolError, EngineMissingError

# -- the machine: CUDA driver, CUDA runtime, GPUs (ctypes, nothing to install) ----------------------
@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    compute_capability: str  # "8.7"
    memory_mb: int | None = None


@dataclass
class CudaProbe:
    driver: str | None = None  # CUDA version the driver supports, e.g. "12.4"; None: no libcuda
    driver_error: str | None = None
    gpus: list[Gpu] = field(default_factory=list)
    runtime: str | None = None  # "cuda-python …" or "libcudart 12.4 (path)"; None: neither


def _load_first(names) -> ctypes.CDLL | None:
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def _cuda_version(v: int) -> str:
    return f"{v // 1000}.{(v % 1000) // 10}"


def _probe_driver(probe: CudaProbe) -> None:
    lib = _load_first(("nvcuda.dll",) if os.name == "nt" else ("libcuda.so.1", "libcuda.so"))
    if lib is None:
        probe.driver_error = "libcuda not found (no NVIDIA driver)"
        return
    v, n = ctypes.c_int(0), ctypes.c_int(0)
    lib.cuDriverGetVersion(ctypes.byref(v))
    probe.driver = _cuda_version(v.value)
    rc = lib.cuInit(0)
    if rc != 0:
        probe.driver_error = f"cuInit failed with CUDA error {rc}" + (" (no CUDA-capable device)" if rc == 100 else "")
        return
    lib.cuDeviceGetCount(ctypes.byref(n))
    for i in range(n.value):
        dev, major, minor, mem = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(0), ctypes.c_size_t(0)
        name = ctypes.create_string_buffer(256)
        lib.cuDeviceGet(ctypes.byref(dev), i)
        lib.cuDeviceGetName(name, 256, dev)
        lib.cuDeviceGetAttribute(ctypes.byref(major), 75, dev)  # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
        lib.cuDeviceGetAttribute(ctypes.byref(minor), 76, dev)  # …_MINOR
        lib.cuDeviceTotalMem_v2(ctypes.byref(mem), dev)
        probe.gpus.append(Gpu(i, name.value.decode(errors="replace"), f"{major.value}.{minor.value}",
                              mem.value >> 20 or None))


def cuda_python_runtime():
    """cuda-python's runtime module (`cuda.bindings.runtime`, or `cuda.cudart` before 12.6), or None."""
    for module in ("cuda.bindings.runtime", "cuda.cudart"):
        try:
            return importlib.import_module(module)
        except ImportError:
            continue
    return None


def load_cudart() -> ctypes.CDLL | None:
    """libcudart from the loader path, CUDA / JetPack install dirs, or the nvidia-cuda-runtime wheel."""
    if os.name == "nt":
        return _load_first(("cudart64_13.dll", "cudart64_12.dll", "cudart64_110.dll"))
    names = ["libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0"]
    dirs = [d for pattern in ("/usr/local/cuda*/lib64", "/usr/local/cuda*/lib", "/usr/local/cuda*/targets/*/lib")
            for d in glob.glob(pattern)]
    spec = importlib.util.find_spec("nvidia")  # the namespace package of NVIDIA's pip wheels
    dirs += [os.path.join(p, "cuda_runtime", "lib") for p in (spec.submodule_search_locations or [])] if spec else []
    names += sorted(p for d in dirs for p in glob.glob(os.path.join(d, "libcudart.so*")))
    return _load_first(names)


def _mapped_path(fragment: str) -> str | None:
    """Where the loader found a library (Linux): the name alone does not say which CUDA it is."""
    try:
        with open("/proc/self/maps") as maps:
            return next((line.split()[-1] for line in maps if fragment in line), None)
    except OSError:
        return None


def probe_cuda() -> CudaProbe:
    probe = CudaProbe()
    try:
        _probe_driver(probe)
    except (AttributeError, OSError) as e:  # an old or broken driver library: report, never crash
        probe.driver_error = f"probing the driver failed: {e}"
    if cuda_python_runtime() is not None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            probe.runtime = f"cuda-python {version('cuda-python')}"
        except PackageNotFoundError:
            probe.runtime = "cuda-python"
    elif (lib := load_cudart()) is not None:
        v = ctypes.c_int(0)
        lib.cudaRuntimeGetVersion(ctypes.byref(v))
        probe.runtime = f"libcudart {_cuda_version(v.value)} ({_mapped_path('libcudart') or lib._name})"
    return probe


H2D, D2H = 1, 2  # cudaMemcpyKind


class _CudaPython:
    """Device memory through cuda-python (every call returns (error, *values))."""

    def __init__(self, rt):
        self.rt = rt

    def _call(self, fn, *args):
        err, *values = getattr(self.rt, fn)(*args)
        if int(err) != 0:
            text = self.rt.cudaGetErrorString(err)[1]
            raise EdgetoolError(f"CUDA {fn} failed: {text.decode() if isinstance(text, bytes) else text} (error {int(err)}).")
        return values[0] if values else None

    def malloc(self, nbytes: int) -> int:
        return int(self._call("cudaMalloc", nbytes))

    def free(self, ptr: int) -> None:
        self._call("cudaFree", ptr)

    def copy(self, dst: int, src: int, nbytes: int, kind: int, stream: int) -> None:
        self._call("cudaMemcpyAsync", dst, src, nbytes, self.rt.cudaMemcpyKind(kind), stream)

    def stream_create(self) -> int:
        return int(self._call("cudaStreamCreate"))

    def stream_sync(self, stream: int) -> None:
        self._call("cudaStreamSynchronize", stream)

    def stream_destroy(self, stream: int) -> None:
        self._call("cudaStreamDestroy", stream)


class _CudaCtypes:
    """The same calls through ctypes to libcudart (C signatures: error code returned, values by pointer)."""

    def __init__(self, lib):
        self.lib = lib
        lib.cudaGetErrorString.restype = ctypes.c_char_p

    def _check(self, fn, *args):
        err = getattr(self.lib, fn)(*args)
        if err != 0:
            raise EdgetoolError(f"CUDA {fn} failed: {self.lib.cudaGetErrorString(err).decode()} (error {err}).")

    def malloc(self, nbytes: int) -> int:
        ptr = ctypes.c_void_p()
        self._check("cudaMalloc", ctypes.byref(ptr), ctypes.c_size_t(nbytes))
        return ptr.value or 0  # ctypes gives None for a null pointer

    def free(self, ptr: int) -> None:
        self._check("cudaFree", ctypes.c_void_p(ptr))

    def copy(self, dst: int, src: int, nbytes: int, kind: int, stream: int) -> None:
        self._check("cudaMemcpyAsync", ctypes.c_void_p(dst), ctypes.c_void_p(src), ctypes.c_size_t(nbytes),
                    ctypes.c_int(kind), ctypes.c_void_p(stream))

    def stream_create(self) -> int:
        stream = ctypes.c_void_p()
        self._check("cudaStreamCreate", ctypes.byref(stream))
        return stream.value or 0

    def stream_sync(self, stream: int) -> None:
        self._check("cudaStreamSynchronize", ctypes.c_void_p(stream))

    def stream_destroy(self, stream: int) -> None:
        self._check("cudaStreamDestroy", ctypes.c_void_p(stream))


def cuda_api():
    rt = cuda_python_runtime()
    if rt is not None:
        return _CudaPython(rt)
    lib = load_cudart()
    if lib is None:  # check_engine_environment reports this first; kept for direct callers
        raise EngineMissingError("No CUDA runtime: pip install 'edgetool[tensorrt]' (cuda-python), or install libcudart.")
    return _CudaCtypes(lib)
