"""Quantized artifacts, one entry per (target, precision): the quantizer makes the model, the target
compiles and writes it. Targets never import the quantizer (DESIGN's layering); a precision a target
builds by itself (fp32 everywhere, OpenVINO's compressed fp16) has no entry here and goes straight to
`target.build`.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

from edgetool.runtime.errors import UsageError
from edgetool.runtime.registry import Registry
from edgetool.targets.base import BuildOptions, BuiltArtifact, Target

# (target, onnx_path, out_dir, graph, options, calibration) -> BuiltArtifact
Build = Callable[[Target, Path, Path, str, BuildOptions, object], BuiltArtifact]
BUILDS: Registry[Build] = Registry("quantized build")


def build(target: Target, onnx_path: Path, out_dir: Path, graph: str, options: BuildOptions,
          calibration=None) -> BuiltArtifact:
    """The artifact of one graph at options.precision for this target."""
    target.check_precision(options.precision)
    key = (target.name, options.precision)
    if key in BUILDS:
        return BUILDS.get(key)(target, Path(onnx_path), Path(out_dir), graph, options, calibration)
    return target.build(Path(onnx_path), Path(out_dir), graph, options, calibration)


def _keep(options: BuildOptions) -> tuple[int, tuple[str, ...]]:
    return int(options.extra.get("keep_fp32", 0)), tuple(options.extra.get("exclude", ()))


def _onnx_handover(target: Target, quantized: Path, out_dir: Path, graph: str, options: BuildOptions,
                   details: dict) -> BuiltArtifact:
    extra = {**options.extra, "details": details}
    return target.build(quantized, out_dir, graph, BuildOptions(options.precision, options.static_shapes,
                                                                options.shapes, options.workspace_mb, extra))


@BUILDS.register(("onnx", "fp16"))
def onnx_fp16(target, onnx_path, out_dir, graph, options, calibration) -> BuiltArtifact:
    from .fp16 import convert_fp16, fp16_candidates

    keep, exclude = _keep(options)
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / f"{graph}.onnx"
    details = convert_fp16(onnx_path, dest, keep_nodes=tuple(fp16_candidates(onnx_path, keep)) + exclude)
    return _onnx_handover(target, dest, out_dir, graph, options, details)


@BUILDS.register(("onnx", "int8"))
def onnx_int8(target, onnx_path, out_dir, graph, options, calibration) -> BuiltArtifact:
    from .int8_ort import quantize_dynamic_onnx, quantize_static_onnx

    keep, exclude = _keep(options)
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / f"{graph}.onnx"
    method = options.extra.get("method", "dynamic")
    if method == "weight-only":
        from .weight_only import quantize_nbits_onnx

        details = quantize_nbits_onnx(onnx_path, dest, 8, exclude, head_bits=None)
        details.update(_kv_cache(dest, graph, options, calibration))
    elif method == "dynamic":
        details = quantize_dynamic_onnx(onnx_path, dest, keep, exclude)
    elif method == "static":
        if calibration is None:
            raise UsageError("INT8 static quantization needs calibration data: pass --calibration PATH.")
        details = quantize_static_onnx(onnx_path, dest, calibration.feeds(graph),
                                       options.extra.get("calibration_method", "minmax"), keep, exclude)
    else:
        raise UsageError(f"Unknown INT8 method '{method}' for ONNX Runtime; expected dynamic or static.")
    return _onnx_handover(target, dest, out_dir, graph, options, details)


@BUILDS.register(("openvino", "int8"))
def openvino_int8(target, onnx_path, out_dir, graph, options, calibration) -> BuiltArtifact:
    """NNCF post-training quantization of the converted model on calibration feeds recorded through the
    bundle's own pipeline (static shapes: the feeds are fitted to them first); weight-only (decoder LLMs):
    NNCF compress_weights INT8_ASYM, no calibration."""
    if options.extra.get("method") == "weight-only":
        from .weight_only import compress_weights_ov

        model, _, opts = target.convert(onnx_path, options)
        model, details = compress_weights_ov(model, 8, _keep(options)[1])
        return target.save(model, out_dir, graph, "int8", {**opts, **details})
    if calibration is None:
        raise UsageError("OpenVINO INT8 needs calibration data (NNCF post-training quantization); "
                         "pass --calibration PATH, or let edgetool use its built-in demo set.")
    from edgetool.runtime.backends.static_shapes import fit

    from .openvino_nncf import quantize_ov

    model, dims, opts = target.convert(onnx_path, options)
    feeds = calibration.feeds(graph)
    if options.static_shapes:
        feeds = [f for feed in feeds for f in fit(feed, dims, options.static_shapes)[0]]
    keep, exclude = _keep(options)
    model, details = quantize_ov(model, feeds, keep_fp32=keep, exclude=exclude)
    return target.save(model, out_dir, graph, "int8", {**opts, **details})


@BUILDS.register(("trt", "fp16"))
def tensorrt_fp16(target, onnx_path, out_dir, graph, options, calibration) -> BuiltArtifact:
    """Two ONNX files, one recipe: the fp32 graph, which TensorRT 10 builds with BuilderFlag.FP16 (fp16
    kernels chosen per layer), and a strongly typed fp16 graph (fp32 I/O, sensitive ops kept fp32) for
    TensorRT 11, which removed that flag and takes every precision from the ONNX. It is made here, at
    export, because the device has no onnx package to convert it."""
    from .fp16 import convert_fp16, fp16_candidates

    built = target.build(onnx_path, out_dir, graph, options, calibration)
    keep, exclude = _keep(options)
    name = f"{graph}.fp16.onnx"
    details = convert_fp16(out_dir / built.path, out_dir / name,
                           keep_nodes=tuple(fp16_candidates(onnx_path, keep)) + exclude)
    return BuiltArtifact(built.format, built.path, [*built.files, name],
                         {**details, **built.options, "fp16_onnx": name})


@BUILDS.register(("trt", "int8"))
def tensorrt_int8(target, onnx_path, out_dir, graph, options, calibration) -> BuiltArtifact:
    """Explicit quantization: a symmetric QDQ ONNX (an already quantized source is used as it is), then
    the target's recipe for the device's engine build."""
    from edgetool.targets.tensorrt_target import has_qdq

    if has_qdq(onnx_path):
        return target.build(onnx_path, out_dir, graph, options, calibration)
    if calibration is None:
        raise UsageError("TensorRT INT8 needs a QDQ ONNX (explicit quantization): pass --calibration PATH "
                         "so edgetool can calibrate, or export from an already quantized (QDQ) model.")
    from .int8_tensorrt import quantize_qdq_for_tensorrt

    keep, exclude = _keep(options)
    with tempfile.TemporaryDirectory(prefix="edgetool-trt-qdq-") as tmp:
        qdq = Path(tmp) / f"{graph}.onnx"
        details = quantize_qdq_for_tensorrt(onnx_path, qdq, calibration.feeds(graph),
                                            options.extra.get("calibration_method", "minmax"), keep, exclude)
        built = target.build(qdq, out_dir, graph, options, calibration)
    return BuiltArtifact(built.format, built.path, built.files, {**details, **built.options})


# -- weight-only (decoder LLMs): int4, and int8 --method weight-only --------------------------------
def _kv_cache(dest: Path, graph: str, options: BuildOptions, calibration) -> dict:
    """--kv-cache int8: ONNX Runtime's fused decoder keeps its cache in int8 (quantize/kv_cache.py); other graphs,
    and the default fp32 cache, are left as they are."""
    from edgetool.runtime.names import FUSED_DECODER

    if options.extra.get("kv_cache", "fp32") == "fp32" or graph != FUSED_DECODER:
        return {}
    from .kv_cache import quantize_kv_cache

    return quantize_kv_cache(dest, calibration.feeds(graph))


@BUILDS.register(("onnx", "int4"))
def onnx_int4(target, onnx_path, out_dir, graph, options, calibration) -> BuiltArtifact:
    """MatMulNBits, 4-bit blocks of 32 (the LM head 8-bit, wider blocks): an artifact for ONNX Runtime only."""
    from .weight_only import quantize_nbits_onnx

    _, exclude = _keep(options)
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / f"{graph}.onnx"
    head = options.extra.get("lm_head") or "int8"
    details = quantize_nbits_onnx(onnx_path, dest, 4, exclude, head_bits={"int8": 8, "int4": 4, "fp32": 0}[head])
    details.update(_kv_cache(dest, graph, options, calibration))
    return _onnx_handover(target, dest, out_dir, graph, options, details)


@BUILDS.register(("openvino", "int4"))
def openvino_int4(target, onnx_path, out_dir, graph, options, calibration) -> BuiltArtifact:
    """NNCF compress_weights INT4_SYM (groups of 32; embeddings and LM head INT8), data-free."""
    from .weight_only import compress_weights_ov

    model, _, opts = target.convert(onnx_path, options)
    _, exclude = _keep(options)
    model, details = compress_weights_ov(model, 4, exclude, lm_head=options.extra.get("lm_head") or "int8")
    return target.save(model, out_dir, graph, "int4", {**opts, **details})
