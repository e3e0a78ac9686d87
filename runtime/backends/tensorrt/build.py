"""Building TensorRT engines where they run (needs the tensorrt module and a GPU), through the cache.

`tensorrt` is imported only by `check_engine_environment`; everything it needs to say what is missing
is probed without it."""
from __future__ import annotations

import json
from pathlib import Path

from edgetool.runtime.bundle import sha256_file
from edgetool.runtime.errors import EngineMissingError, UnsupportedError, UsageError

from . import cuda
from .cache import _atomic_write, _last_recipe, _recipe_note, _slug, _sm, default_cache_dir, engine_cache_key, find_cached_engine
from .profiles import RECIPE_KEYS, SHAPES_EXAMPLE

BUILD_HINT = ("The bundle keeps its ONNX model: build the engine later on the device with "
              "`edgetool build BUNDLE` (cached per GPU, TensorRT version and precision), "
              "or run the bundle here with --backend onnxruntime or --backend openvino.")


def check_engine_environment(probe: cuda.CudaProbe | None = None):
    """The tensorrt module, or EngineMissingError naming everything missing here and the way out."""
    missing = []
    try:
        import tensorrt as trt
    except ImportError:
        trt = None
        missing.append("the tensorrt Python package (JetPack ships it on Jetsons; elsewhere "
                       "pip install tensorrt --extra-index-url https://pypi.nvidia.com)")
    probe = probe or cuda.probe_cuda()
    if probe.driver is None:
        missing.append("the NVIDIA CUDA driver (libcuda)")
    elif not probe.gpus:
        missing.append(f"an NVIDIA GPU ({probe.driver_error or 'the driver reports none'})")
    if probe.runtime is None:
        missing.append("the CUDA runtime (pip install 'edgetool[tensorrt]' for cuda-python, or libcudart "
                       "from the CUDA toolkit / JetPack)")
    if missing:
        raise EngineMissingError(f"TensorRT cannot run on this machine: missing {'; '.join(missing)}. {BUILD_HINT}")
    return trt


# -- the build (needs tensorrt and a GPU) -----------------------------------------------------------
_LOGGER = None


def trt_logger(trt):
    """One logger per process: TensorRT warns when builder and runtime get different ones."""
    global _LOGGER
    if _LOGGER is None:
        _LOGGER = trt.Logger(trt.Logger.WARNING)
    return _LOGGER


def _network_flags(trt, strongly_typed: bool) -> int:
    kinds = trt.NetworkDefinitionCreationFlag
    flags = 0
    if int(trt.__version__.split(".")[0]) < 10:  # before TensorRT 10 implicit batch was the default
        flags |= 1 << int(kinds.EXPLICIT_BATCH)
    if strongly_typed:
        flags |= 1 << int(kinds.STRONGLY_TYPED)
    return flags


def engine_key_here(trt, recipe: dict, onnx_path: str | Path, onnx_sha256: str | None = None) -> tuple[str, cuda.Gpu]:
    """The cache key of this recipe's engine on this machine's GPU and TensorRT."""
    gpu = cuda.probe_cuda().gpus[0]  # TensorRT builds on the current device: select it with CUDA_VISIBLE_DEVICES
    key = engine_cache_key(gpu.name, gpu.compute_capability, trt.__version__, recipe["precision"], recipe["profiles"],
                           onnx_sha256 or sha256_file(Path(onnx_path)))
    return key, gpu


def cached_engine(onnx_path: str | Path, recipe: dict, cache_dir: str | Path | None = None, *,
                  onnx_sha256: str | None = None) -> Path:
    """The cached engine for this ONNX and recipe on this GPU, or EngineMissingError saying how to build it."""
    trt = check_engine_environment()
    key, gpu = engine_key_here(trt, recipe, onnx_path, onnx_sha256)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    hit = find_cached_engine(cache_dir, key)
    if hit is None and (last := _last_recipe(cache_dir, onnx_sha256 or sha256_file(Path(onnx_path)), recipe)):
        hit = find_cached_engine(cache_dir, engine_key_here(trt, last, onnx_path, onnx_sha256)[0])
    if hit is None:
        raise EngineMissingError(
            f"No TensorRT engine for {Path(onnx_path).name} ({recipe['precision']}) on this {gpu.name} with TensorRT "
            f"{trt.__version__} in {cache_dir}. Build it once (takes minutes): edgetool build BUNDLE, or let the "
            "runtime build it on first use: edgetool run --build-engine, or pipeline(..., options="
            "BackendOptions(extra={'build': True})).")
    return hit


def build_engine(onnx_path: str | Path, recipe: dict, cache_dir: str | Path | None = None, *,
                 onnx_sha256: str | None = None, force: bool = False) -> Path:
    """The engine for this ONNX and recipe on this GPU: from the cache, or built into it.

    The plan is the plain serialized engine (no header: trtexec and DeepStream load it as is); the
    timing cache next to it makes rebuilds (other profiles, precisions) much faster."""
    trt = check_engine_environment()
    precision, profiles = recipe["precision"], recipe["profiles"]
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    key, gpu = engine_key_here(trt, recipe, onnx_path, onnx_sha256)
    if not force and (hit := find_cached_engine(cache_dir, key)):
        return hit
    cache_dir.mkdir(parents=True, exist_ok=True)
    logger = trt_logger(trt)
    builder = trt.Builder(logger)
    # INT8 is explicit quantization: the QDQ graph fixes every precision, so the network is strongly
    # typed where this TensorRT has that (precision flags are then not allowed); older ones need INT8.
    strongly_typed = precision == "int8" and hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")
    network = builder.create_network(_network_flags(trt, strongly_typed))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise UnsupportedError(
            f"TensorRT {trt.__version__} cannot parse {onnx_path}: {errors}. TensorRT INT8 needs a QDQ ONNX "
            "(edgetool quantize BUNDLE --target trt --precision int8), not ONNX Runtime's dynamic INT8.")
    config = builder.create_builder_config()
    if recipe.get("workspace_mb"):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(recipe["workspace_mb"]) << 20)
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    elif precision == "int8" and not strongly_typed:
        config.set_flag(trt.BuilderFlag.INT8)
    profile = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        if tensor.name in profiles:
            p = profiles[tensor.name]
            profile.set_shape(tensor.name, p["min"], p["opt"], p["max"])
        elif any(d < 0 for d in tensor.shape):
            raise UsageError(f"The recipe has no profile for dynamic input '{tensor.name}' "
                             f"(it has: {', '.join(profiles) or 'none'}). Rebuild with --shapes, e.g. '{SHAPES_EXAMPLE}'.")
    config.add_optimization_profile(profile)
    timing = cache_dir / f"timing-{_slug(gpu.name, 32)}-{_sm(gpu.compute_capability)}-trt{_slug(trt.__version__, 16)}.cache"
    cache = config.create_timing_cache(timing.read_bytes() if timing.is_file() else b"")
    config.set_timing_cache(cache, False)  # ignore_mismatch=False: a cache from another device is not reused
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise UnsupportedError(
            f"TensorRT {trt.__version__} could not build an engine from {onnx_path} at {precision} (the TensorRT "
            "log above says why). Try narrower --shapes, a larger --workspace, or --precision fp32.")
    _atomic_write(timing, config.get_timing_cache().serialize())
    path = cache_dir / f"{key}.plan"
    _atomic_write(path, plan)
    sha = onnx_sha256 or sha256_file(Path(onnx_path))
    _atomic_write(_recipe_note(cache_dir, sha, precision), json.dumps({k: recipe.get(k) for k in RECIPE_KEYS}).encode())
    return path
