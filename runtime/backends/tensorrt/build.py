"""Building TensorRT engines where they run (needs the tensorrt module and a GPU), through the cache.

`tensorrt` is imported only by `check_engine_environment`; everything it needs to say what is missing
is probed without it."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Mapping

from edgetool.runtime.bundle import sha256_file
from edgetool.runtime.errors import EdgetoolError, EngineMissingError, UnsupportedError, UsageError

from . import cuda
from .cache import _atomic_write, _last_recipe, _recipe_note, _slug, _sm, default_cache_dir, engine_cache_key, find_cached_engine
from .profiles import SHAPES_EXAMPLE, TYPINGS, recipe_note

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


def trt_major(version: str) -> int:
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return 0


def weak_typing_available(trt) -> bool:
    """TensorRT 11 removed BuilderFlag.FP16/INT8 (and the INT8 calibrator): every network is strongly
    typed there, its precisions are the ONNX's own. Probed on the module, not the version: what counts is
    the API the installed bindings really have (the version decides only for a module without BuilderFlag)."""
    flags = getattr(trt, "BuilderFlag", None)
    return hasattr(flags, "FP16") if flags is not None else trt_major(getattr(trt, "__version__", "0")) < 11


def typing_implications(major: int, weak: bool) -> str:
    """What the installed TensorRT means for the bundles it can build (shown by `edgetool doctor`)."""
    if weak:
        return (f"TensorRT {major}: fp16 builds from the fp32 ONNX with BuilderFlag.FP16 (TensorRT picks fp16 kernels "
                "per layer); int8 from the QDQ ONNX, strongly typed; strong typing on request (edgetool build "
                "--strongly-typed)")
    return (f"TensorRT {major}: strongly typed only (no BuilderFlag.FP16/INT8): fp16 builds from the bundle's fp16 "
            "ONNX (exported with --target trt --precision fp16), int8 from its QDQ ONNX")


@dataclass(frozen=True)
class EngineSource:
    """What one engine is built from, and which of TensorRT's two paths builds it."""

    onnx: Path
    sha256: str
    typing: str  # "weak": builder flags let TensorRT choose precisions per layer; "strong": the ONNX's types rule
    flags: tuple[str, ...] = ()  # BuilderFlag names to set ("FP16", "INT8"); none on a strongly typed network


def strong_onnx_of(recipe: dict, files: Mapping[str, str], locate: Callable[[str], Path]) -> tuple[Path, str] | None:
    """(path, sha256) of the artifact's strongly typed fp16 ONNX named by its recipe, or None when it has none.

    `files` is the artifact's {bundle-relative path: sha256}; `locate` turns a bundle-relative path into a
    local one (Bundle.file, which also checks the hash)."""
    name = recipe.get("fp16_onnx")
    if not name:
        return None
    rel = next((r for r in files if PurePosixPath(r).name == name), None)
    if rel is None:
        raise EdgetoolError(f"The TensorRT recipe names the fp16 ONNX '{name}', which is not among the artifact's "
                            f"files ({', '.join(files)}). The bundle is inconsistent: re-export it.")
    return Path(locate(rel)), files[rel]


def engine_source(trt, recipe: dict, onnx_path: str | Path, onnx_sha256: str | None = None,
                  strong_onnx: tuple[Path, str | None] | None = None) -> EngineSource:
    """Which ONNX this TensorRT builds for the recipe, and how.

    fp16 stays TensorRT 10's path (fp32 ONNX + BuilderFlag.FP16) wherever that flag exists, unless the
    recipe asks for strong typing; without the flag (TensorRT 11), or when asked, it builds from the
    strongly typed fp16 ONNX made at export. int8 is a QDQ ONNX, strongly typed where TensorRT has that."""
    typing = recipe.get("typing")
    if typing not in (None, *TYPINGS):
        raise UsageError(f"Recipe typing {typing!r} is not one of {', '.join(TYPINGS)} (or absent: TensorRT's default).")
    precision, weak_ok = recipe["precision"], weak_typing_available(trt)
    if typing == "weak" and not weak_ok:
        raise UnsupportedError(
            f"The recipe asks for a weakly typed {precision} build (builder precision flags), but TensorRT "
            f"{trt.__version__} is strongly typed only (BuilderFlag.FP16/INT8 were removed in TensorRT 11). Build it "
            "without that request (edgetool build BUNDLE), or on a TensorRT 10 device.")

    def main() -> tuple[Path, str]:  # hashed only when this ONNX is the one built
        return Path(onnx_path), onnx_sha256 or sha256_file(Path(onnx_path))

    if precision == "fp16":
        if typing != "strong" and weak_ok:
            return EngineSource(*main(), "weak", ("FP16",))
        if strong_onnx is None:
            why = "strong typing was requested" if typing == "strong" else \
                f"TensorRT {trt.__version__} is strongly typed only (no BuilderFlag.FP16)"
            raise UnsupportedError(
                f"Cannot build fp16 from {Path(onnx_path).name}: {why}, so fp16 needs the strongly typed fp16 ONNX "
                "that export writes beside it, and this bundle has none (exported by an older edgetool, or not for "
                "TensorRT fp16). Add it where edgetool's quantizer is installed: edgetool quantize BUNDLE --target trt "
                "--precision fp16 (or re-export with --target trt --precision fp16), or build --precision fp32.")
        path, sha = strong_onnx
        return EngineSource(Path(path), sha or sha256_file(Path(path)), "strong")
    strong_flag = hasattr(getattr(trt, "NetworkDefinitionCreationFlag", None), "STRONGLY_TYPED")
    if precision == "int8":
        # explicit quantization: the QDQ graph fixes every precision; TensorRT 8 (no strong typing) needs INT8
        if typing != "weak" and (strong_flag or not weak_ok):
            return EngineSource(*main(), "strong")
        return EngineSource(*main(), "weak", ("INT8",))
    return EngineSource(*main(), "strong" if typing == "strong" or not weak_ok else "weak")


def _network_flags(trt, strongly_typed: bool) -> int:
    kinds = trt.NetworkDefinitionCreationFlag
    flags = 0
    if trt_major(trt.__version__) < 10:  # before TensorRT 10 implicit batch was the default
        flags |= 1 << int(kinds.EXPLICIT_BATCH)
    if strongly_typed and hasattr(kinds, "STRONGLY_TYPED"):  # a TensorRT without the flag types strongly anyway
        flags |= 1 << int(kinds.STRONGLY_TYPED)
    return flags


def engine_key_here(trt, recipe: dict, onnx_path: str | Path, onnx_sha256: str | None = None,
                    strong_onnx: tuple[Path, str | None] | None = None) -> tuple[str, cuda.Gpu]:
    """The cache key of this recipe's engine on this machine's GPU and TensorRT."""
    key, gpu, _ = _key_and_source(trt, recipe, onnx_path, onnx_sha256, strong_onnx)
    return key, gpu


def _key_and_source(trt, recipe, onnx_path, onnx_sha256, strong_onnx) -> tuple[str, cuda.Gpu, EngineSource]:
    gpu = cuda.probe_cuda().gpus[0]  # TensorRT builds on the current device: select it with CUDA_VISIBLE_DEVICES
    source = engine_source(trt, recipe, onnx_path, onnx_sha256, strong_onnx)
    key = engine_cache_key(gpu.name, gpu.compute_capability, trt.__version__, recipe["precision"], recipe["profiles"],
                           source.sha256, typing=source.typing)
    return key, gpu, source


def cached_engine(onnx_path: str | Path, recipe: dict, cache_dir: str | Path | None = None, *,
                  onnx_sha256: str | None = None, strong_onnx: tuple[Path, str | None] | None = None) -> Path:
    """The cached engine for this ONNX and recipe on this GPU, or EngineMissingError saying how to build it.

    `strong_onnx`: (path, sha256) of the artifact's strongly typed fp16 ONNX, when it has one (strong_onnx_of)."""
    trt = check_engine_environment()
    key, gpu = engine_key_here(trt, recipe, onnx_path, onnx_sha256, strong_onnx)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    hit = find_cached_engine(cache_dir, key)
    if hit is None and (last := _last_recipe(cache_dir, onnx_sha256 or sha256_file(Path(onnx_path)), recipe)):
        hit = find_cached_engine(cache_dir, engine_key_here(trt, last, onnx_path, onnx_sha256, strong_onnx)[0])
    if hit is None:
        raise EngineMissingError(
            f"No TensorRT engine for {Path(onnx_path).name} ({recipe['precision']}) on this {gpu.name} with TensorRT "
            f"{trt.__version__} in {cache_dir}. Build it once (takes minutes): edgetool build BUNDLE, or let the "
            "runtime build it on first use: edgetool run --build-engine, or pipeline(..., options="
            "BackendOptions(extra={'build': True})).")
    return hit


def build_engine(onnx_path: str | Path, recipe: dict, cache_dir: str | Path | None = None, *,
                 onnx_sha256: str | None = None, force: bool = False,
                 strong_onnx: tuple[Path, str | None] | None = None) -> Path:
    """The engine for this ONNX and recipe on this GPU: from the cache, or built into it.

    The plan is the plain serialized engine (no header: trtexec and DeepStream load it as is); the
    timing cache next to it makes rebuilds (other profiles, precisions) much faster. `{key}.json` beside
    the plan records how it was built (weakly typed with builder flags, or strongly typed, and from which ONNX)."""
    trt = check_engine_environment()
    precision, profiles = recipe["precision"], recipe["profiles"]
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    key, gpu, source = _key_and_source(trt, recipe, onnx_path, onnx_sha256, strong_onnx)
    if not force and (hit := find_cached_engine(cache_dir, key)):
        return hit
    cache_dir.mkdir(parents=True, exist_ok=True)
    logger = trt_logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt, source.typing == "strong"))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(source.onnx)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise UnsupportedError(
            f"TensorRT {trt.__version__} cannot parse {source.onnx}: {errors}. TensorRT INT8 needs a QDQ ONNX "
            "(edgetool quantize BUNDLE --target trt --precision int8), not ONNX Runtime's dynamic INT8.")
    config = builder.create_builder_config()
    if recipe.get("workspace_mb"):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(recipe["workspace_mb"]) << 20)
    for flag in source.flags:  # only on a weakly typed network: a strongly typed one refuses precision flags
        config.set_flag(getattr(trt.BuilderFlag, flag))
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
            f"TensorRT {trt.__version__} could not build an engine from {source.onnx} at {precision} (the TensorRT "
            "log above says why). Try narrower --shapes, a larger --workspace, or --precision fp32.")
    _atomic_write(timing, config.get_timing_cache().serialize())
    path = cache_dir / f"{key}.plan"
    _atomic_write(path, plan)
    built = {"tensorrt": trt.__version__, "gpu": gpu.name, "precision": precision, "typing": source.typing,
             "builder_flags": list(source.flags), "onnx": source.onnx.name, "onnx_sha256": source.sha256}
    _atomic_write(cache_dir / f"{key}.json", json.dumps(built, indent=1).encode())
    sha = onnx_sha256 or sha256_file(Path(onnx_path))
    _atomic_write(_recipe_note(cache_dir, sha, precision), json.dumps(recipe_note(recipe)).encode())
    return path
