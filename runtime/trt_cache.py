"""TensorRT engines, built where they run: recipe, optimization profiles, engine cache, the build.

A plan only loads on the GPU model and TensorRT version that built it, so a bundle carries the ONNX
plus a *recipe* (the artifact's options: precision, one min/opt/max profile per dynamic input,
workspace limit) and the device builds the engine on first use or with `edgetool build BUNDLE`.
Engines are cached under a key naming GPU, compute capability, TensorRT version, precision, profile
and the ONNX's sha256.

This module lives in the runtime because the device builds without `edgetool.targets` (the runtime
never imports it); targets/tensorrt_target.py re-exports it. Everything but `build_engine` is
GPU-free; `tensorrt` is imported only by `check_engine_environment`, CUDA is probed with ctypes.
"""
from __future__ import annotations

import ctypes
import glob
import hashlib
import importlib.util
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .bundle import PRECISIONS, GraphSpec, sha256_file
from .errors import EngineMissingError, UnsupportedError, UsageError

# Typical (min, opt, max) per named dim. Graphs from the dynamo exporter name their dims s0, s1, …:
# those fall back by position (axis 0 = batch, cache inputs = past_sequence, others = sequence).
TYPICAL_DIMS: dict[str, tuple[int, int, int]] = {
    "batch": (1, 1, 16),
    "sequence": (1, 128, 512),
    "encoder_sequence": (1, 128, 512),
    "total_sequence": (1, 128, 1024),
    "past_sequence": (0, 0, 512),  # 0: the first step has an empty cache; total = past + sequence at each point
    "choices": (1, 4, 8),
    "height": (32, 224, 1024),
    "width": (32, 224, 1024),
    "samples": (1_600, 160_000, 480_000),  # 0.1 s .. 30 s of 16 kHz audio
    "frames": (1, 1_500, 3_000),
}
SHAPES_EXAMPLE = "input_ids=1x8,1x128,8x512;attention_mask=1x8,1x128,8x512"
BUILD_HINT = ("The bundle keeps its ONNX model: build the engine later on the device with "
              "`edgetool build BUNDLE` (cached per GPU, TensorRT version and precision), "
              "or run the bundle here with --backend onnxruntime or --backend openvino.")
Profiles = dict[str, dict[str, list[int]]]  # input -> {"min": [...], "opt": [...], "max": [...]}


# -- profiles ---------------------------------------------------------------------------------------
def parse_shapes(text: str | None) -> dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """`--shapes 'input_ids=1x8,1x128,8x512;attention_mask=…'` -> {input: (min, opt, max)}.
    One shape instead of three fixes that input (min = opt = max)."""
    out: dict = {}
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        name, sep, spec = (s.strip() for s in part.partition("="))
        if not sep or not name or not spec:
            raise _bad_shapes(part, "expected NAME=MIN,OPT,MAX")
        texts = [s.strip() for s in spec.split(",")]
        texts = texts * 3 if len(texts) == 1 else texts
        if len(texts) != 3:
            raise _bad_shapes(part, f"expected 1 or 3 shapes (min,opt,max), got {len(texts)}")
        shapes = []
        for s in texts:
            try:
                dims = tuple(int(d) for d in s.lower().split("x"))
            except ValueError:
                raise _bad_shapes(part, f"{s!r} is not a shape like 1x128") from None
            if any(d < 0 for d in dims):
                raise _bad_shapes(part, f"{s!r} has a negative size")
            shapes.append(dims)
        _check_range(name, shapes, lambda why: _bad_shapes(part, why))
        if name in out:
            raise _bad_shapes(part, f"input '{name}' is given twice")
        out[name] = tuple(shapes)
    return out


def _bad_shapes(part: str, why: str) -> UsageError:
    return UsageError(f"--shapes: bad entry {part!r}: {why}. Expected NAME=MIN,OPT,MAX entries separated by ';' "
                      f"with shapes written like 1x128, e.g. '{SHAPES_EXAMPLE}'.")


def _check_range(name: str, shapes, error) -> None:
    if len({len(s) for s in shapes}) != 1:
        raise error(f"min, opt and max of '{name}' must have the same number of dims")
    if not all(a <= b <= c for a, b, c in zip(*shapes)):
        raise error(f"'{name}' needs min <= opt <= max in every dim")


def derive_profiles(graph: GraphSpec, typical: dict | None = None, shapes: dict | None = None) -> Profiles:
    """One (min, opt, max) per dynamic input, from the graph's named dims and typical ranges.

    `typical` overrides TYPICAL_DIMS per dim name; `shapes` ({input: (min, opt, max)}, e.g. from
    parse_shapes) fixes whole inputs, and the dims it names size every input sharing them, so one
    entry for input_ids also sizes attention_mask (TensorRT needs them consistent)."""
    table = {**TYPICAL_DIMS, **{k: tuple(v) for k, v in (typical or {}).items()}}
    for dim, r in table.items():
        if len(r) != 3 or not all(isinstance(v, int) and v >= 0 for v in r) or not r[0] <= r[1] <= r[2]:
            raise UsageError(f"Typical range for dim '{dim}' must be (min, opt, max) integers with "
                             f"0 <= min <= opt <= max, got {r!r}.")
    inputs = {t.name: t for t in graph.inputs}
    explicit = {name: tuple(tuple(int(d) for d in s) for s in triple) for name, triple in (shapes or {}).items()}
    for name, triple in explicit.items():
        _check_explicit(graph, inputs, name, triple)
        for axis, dim in enumerate(inputs[name].shape):
            if _dynamic(dim) and dim != "?":
                table[dim] = tuple(s[axis] for s in triple)
    seen: dict[str, tuple[int, int, int]] = {}
    has_past = any("past" in t.name for t in graph.inputs)
    profiles: Profiles = {}
    for t in graph.inputs:
        if not any(_dynamic(d) for d in t.shape):
            continue  # static inputs need no profile
        ranges = [_range(d, axis, t.name, table, seen, has_past, graph.name) for axis, d in enumerate(t.shape)]
        if t.name in explicit:
            ranges = list(zip(*explicit[t.name]))
        profiles[t.name] = {k: [r[i] for r in ranges] for i, k in enumerate(("min", "opt", "max"))}
    return profiles


def _dynamic(dim) -> bool:
    return not (isinstance(dim, int) and dim >= 0)


# Inputs whose non-batch axes have a fixed meaning (the HF names), for dims the exporter left unnamed.
ROLE_BY_INPUT = {"pixel_values": {2: "height", 3: "width"}, "pixel_mask": {1: "height", 2: "width"},
                 "input_features": {2: "frames"}, "input_values": {1: "samples"}}


def fallback_dim(input_name: str, axis: int, has_past: bool, graph_name: str = "") -> str:
    """The role of an unnamed or exporter-named (dynamo: s0, s1, …) dim, from the input's name and position."""
    if axis == 0:
        return "batch"
    if axis in ROLE_BY_INPUT.get(input_name, {}):
        return ROLE_BY_INPUT[input_name][axis]
    # encoder_hidden_states, encoder_attention_mask, the cross-attention cache (past_key_values.N.encoder.key)
    # and every input of a seq2seq "encoder" graph run at the source's length, not the generated one
    if "encoder" in input_name or graph_name == "encoder":
        return "encoder_sequence"
    if "past" in input_name:
        return "past_sequence"
    if has_past and "attention_mask" in input_name:  # a decoder's mask spans cache + new tokens
        return "total_sequence"
    return "sequence"


def _range(dim, axis: int, input_name: str, table: dict, seen: dict, has_past: bool = False,
           graph_name: str = "") -> tuple[int, int, int]:
    if not _dynamic(dim):
        return (dim, dim, dim)
    if dim in seen:  # one symbol, one range: the graph asserts those dims are equal
        return seen[dim]
    role = dim if dim in table else fallback_dim(input_name, axis, has_past, graph_name)
    if graph_name == "encoder" and role == "sequence":  # a generation task's "sequence" is the decoder's
        role = "encoder_sequence"
    r = table[role]
    if dim != "?":  # '?' is an unnamed dim: no identity to share
        seen[dim] = r
    return r


def _check_explicit(graph: GraphSpec, inputs: dict, name: str, triple) -> None:
    if name not in inputs:
        raise UsageError(f"--shapes names input '{name}', which graph '{graph.name}' does not have. "
                         f"Its inputs are: {', '.join(inputs)}.")
    shape = inputs[name].shape
    if len(triple) != 3:
        raise UsageError(f"--shapes for '{name}' needs (min, opt, max) shapes, got {len(triple)}.")
    _check_range(name, triple, lambda why: UsageError(f"--shapes: {why}."))
    if len(triple[0]) != len(shape):
        raise UsageError(f"--shapes gives '{name}' {len(triple[0])} dims; the graph's input has {len(shape)}: "
                         f"{list(shape)}.")
    for axis, dim in enumerate(shape):
        if not _dynamic(dim) and any(s[axis] != dim for s in triple):
            raise UsageError(f"--shapes: dim {axis} of '{name}' is fixed at {dim} in the graph ({list(shape)}), "
                             f"got {[s[axis] for s in triple]}.")


def typical_from_processing(processing: dict | None, typical: dict | None = None) -> dict[str, tuple[int, int, int]]:
    """`typical` (a task's ranges over TYPICAL_DIMS) capped at the bundle's tokenizer limit
    (`processing.tokenizer.model_max_length`): a profile longer than the position table fails the build
    (e.g. Whisper's decoder stops at 448). {} when there is neither a limit nor a task table.

    Encoder sequences are capped alone. A task that declares `past_sequence` (a decoder with a KV cache)
    keeps total = past + sequence at min, opt and max, which TensorRT checks; the cap keeps the task's
    split of the window between prompt and cache."""
    limit = ((processing or {}).get("tokenizer") or {}).get("model_max_length")
    typical = {k: tuple(v) for k, v in (typical or {}).items()}
    if not isinstance(limit, int) or not 1 <= limit < 1_000_000:
        return typical
    table = {**TYPICAL_DIMS, **typical}
    out = dict(typical)
    for dim in ("sequence", "encoder_sequence", "total_sequence"):
        out[dim] = tuple(min(v, limit) for v in table[dim])
    if "past_sequence" in typical:
        seq, past, total = table["sequence"], table["past_sequence"], table["total_sequence"]
        t_min, t_opt, t_max = (min(v, limit) for v in total)
        s_max = min(seq[2], max(1, -(-t_max * seq[2] // total[2])))  # the task's prompt share of the window
        s_opt = min(seq[1], t_opt, s_max)
        t_opt = max(t_min, min(t_opt, t_max - s_max + s_opt))  # so that the cache's opt stays <= its max
        out["total_sequence"] = (t_min, t_opt, t_max)
        out["sequence"] = (seq[0], s_opt, s_max)
        out["past_sequence"] = (past[0], t_opt - s_opt, t_max - s_max)
    return out


def check_shapes_cover(shapes: dict | None, graphs) -> None:
    """Every input --shapes names must exist in some graph of the bundle (each graph takes its own)."""
    known = {t.name for g in graphs for t in g.inputs}
    unknown = sorted(set(shapes or {}) - known)
    if unknown:
        raise UsageError(f"--shapes names {', '.join(repr(n) for n in unknown)}, which no graph of this model has. "
                         f"Its inputs are: {', '.join(sorted(known))}.")


def make_recipe(graph: GraphSpec, precision: str, typical: dict | None = None, shapes: dict | None = None,
                workspace_mb: int | None = None) -> dict:
    """What the device needs to build the engine; stored as the artifact's options."""
    if precision not in PRECISIONS:
        raise UsageError(f"Unknown precision '{precision}'; expected one of {', '.join(PRECISIONS)}.")
    if workspace_mb is not None and (not isinstance(workspace_mb, int) or workspace_mb < 1):
        raise UsageError(f"--workspace must be a positive number of MiB, got {workspace_mb!r}.")
    inputs = {t.name for t in graph.inputs}
    shapes = {k: v for k, v in (shapes or {}).items() if k in inputs}  # other graphs' inputs: their own recipes
    recipe = {"engine": "built on the device (edgetool build BUNDLE)", "precision": precision,
              "profiles": derive_profiles(graph, typical, shapes), "workspace_mb": workspace_mb,
              "timing_cache": "per GPU and TensorRT version, next to the cached engines"}
    if precision == "int8":
        recipe["quantization"] = "explicit (QDQ ONNX)"
    return recipe


RECIPE_KEYS = ("precision", "profiles", "workspace_mb")


def recipe_from_options(options: dict | None, graph: GraphSpec, precision: str, typical: dict | None = None) -> dict:
    """The recipe stored in a trt artifact (its manifest options), or a default one for a plain ONNX artifact."""
    if options and "profiles" in options:
        recipe = {k: options.get(k) for k in RECIPE_KEYS}
        recipe["precision"] = recipe["precision"] or precision
        return recipe
    return {k: v for k, v in make_recipe(graph, precision, typical).items() if k in RECIPE_KEYS}


# -- the engine cache -------------------------------------------------------------------------------
def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgetool" / "trt"


def _slug(text: str, limit: int = 48) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", str(text)).strip("_.")[:limit] or "unknown"


def _sm(compute_capability) -> str:
    cc = ".".join(map(str, compute_capability)) if isinstance(compute_capability, (tuple, list)) else str(compute_capability)
    return "sm" + _slug(cc.replace(".", ""))


def engine_cache_key(gpu_name: str, compute_capability, trt_version: str, precision: str, profile: dict,
                     onnx_sha256: str) -> str:
    """Filename-safe and stable: a readable prefix, then a digest over every field (profile included,
    canonical JSON, so tuples and lists or key order make no difference)."""
    canonical = json.dumps(profile, sort_keys=True, separators=(",", ":"))
    fields = [str(gpu_name), _sm(compute_capability), str(trt_version), precision, canonical, onnx_sha256]
    digest = hashlib.sha256("\n".join(fields).encode()).hexdigest()[:20]
    return f"{_slug(gpu_name, 32)}-{_sm(compute_capability)}-trt{_slug(trt_version, 16)}-{_slug(precision, 8)}-{digest}"


def find_cached_engine(cache_dir: str | Path, key: str) -> Path | None:
    path = Path(cache_dir) / f"{key}.plan"
    return path if path.is_file() and path.stat().st_size > 0 else None


def _atomic_write(path: Path, data) -> None:
    """Write then rename: a reader never sees half an engine, even with two processes building it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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


def check_engine_environment(probe: CudaProbe | None = None):
    """The tensorrt module, or EngineMissingError naming everything missing here and the way out."""
    missing = []
    try:
        import tensorrt as trt
    except ImportError:
        trt = None
        missing.append("the tensorrt Python package (JetPack ships it on Jetsons; elsewhere "
                       "pip install tensorrt --extra-index-url https://pypi.nvidia.com)")
    probe = probe or probe_cuda()
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


def engine_key_here(trt, recipe: dict, onnx_path: str | Path, onnx_sha256: str | None = None) -> tuple[str, Gpu]:
    """The cache key of this recipe's engine on this machine's GPU and TensorRT."""
    gpu = probe_cuda().gpus[0]  # TensorRT builds on the current device: select it with CUDA_VISIBLE_DEVICES
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


def _recipe_note(cache_dir: Path, onnx_sha256: str, precision: str) -> Path:
    return cache_dir / f"last-{onnx_sha256[:20]}-{_slug(precision, 8)}.json"


def _last_recipe(cache_dir: Path, onnx_sha256: str, recipe: dict) -> dict | None:
    """The recipe `edgetool build` last used for this ONNX and precision (e.g. with --shapes), so the runtime
    finds an engine built with other profiles than the manifest's."""
    note = _recipe_note(cache_dir, onnx_sha256, recipe["precision"])
    try:
        last = json.loads(note.read_text())
    except (OSError, ValueError):
        return None
    return last if isinstance(last, dict) and last.get("precision") == recipe["precision"] and "profiles" in last else None


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
