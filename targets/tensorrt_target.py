"""TensorRT target: the bundle gets ONNX plus a build recipe; the engine is built on the device.

A TensorRT plan only loads on the GPU model and TensorRT version that built it, so export builds no
engine: it writes the ONNX (for int8 a QDQ ONNX, which TensorRT reads as explicit quantization) and
stores the recipe — precision, one min/opt/max optimization profile per dynamic input, workspace
limit — as the artifact's options. fp16 carries two ONNX files: the fp32 one (TensorRT 10 builds it
with BuilderFlag.FP16) and a strongly typed fp16 one for TensorRT 11, which has no such flag; the
quantizer makes that one (edgetool.quantize.builds, entry ("trt", "fp16")): targets never import it. `build_engine` (also run by the TensorRT backend on first use and
by `edgetool build BUNDLE`) turns it into a cached plain plan file on the device.

The engine-side helpers live in edgetool.runtime.backends.tensorrt (the device builds without this
package).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from edgetool.runtime.bundle import GraphSpec, TensorSpec
from edgetool.runtime.manifest import Manifest
from edgetool.runtime.errors import UsageError
from edgetool.runtime.backends.tensorrt.profiles import (check_shapes_cover, make_recipe,
                                                         parse_shapes, typical_from_processing)

from .base import BuildOptions, BuiltArtifact, Target

__all__ = ["TensorRTTarget", "has_qdq", "read_graph_spec"]


class TensorRTTarget(Target):
    name = "trt"
    format = "tensorrt-plan"  # what the device makes of it; the bundle's artifact itself is ONNX
    precisions = ("fp32", "fp16", "int8")
    backend = "tensorrt"
    int8_methods = ("static",)  # explicit quantization: activation ranges come from calibration
    # fp16 needs the strongly typed fp16 ONNX for TensorRT 11 and int8 a QDQ graph: both come from the quantizer
    own_precisions = ("fp32",)
    takes_profiles = True

    def build_options(self, manifest: Manifest, opts) -> BuildOptions:
        """Profiles from the task's typical dims (the registry) capped at the tokenizer's limit, or --shapes."""
        from edgetool.runtime.tasks import get_task

        shapes = getattr(opts, "shapes", None)  # `edgetool quantize` has no --shapes: the task's ranges
        shapes = parse_shapes(shapes) if isinstance(shapes, str) else shapes
        check_shapes_cover(shapes, list(manifest.graphs.values()))
        processing = manifest.processing.to_json() if manifest.processing is not None else None
        typical = typical_from_processing(processing, get_task(manifest.task).typical_dims)
        return BuildOptions(precision=opts.precision, shapes=shapes, workspace_mb=getattr(opts, "workspace_mb", None),
                            extra={"typical": typical})

    def check_environment(self) -> None:
        """Nothing to check: export writes ONNX and a recipe; TensorRT is needed only on the device."""

    def build(self, onnx_path: Path, out_dir: Path, graph: str, options: BuildOptions, calibration=None) -> BuiltArtifact:
        self.check_precision(options.precision)
        out_dir.mkdir(parents=True, exist_ok=True)
        dest = out_dir / f"{graph}.onnx"
        if options.precision == "int8" and not has_qdq(onnx_path):
            raise UsageError("TensorRT INT8 needs a QDQ ONNX (explicit quantization): quantize it first "
                             "(edgetool quantize BUNDLE --target trt --precision int8 --calibration PATH), "
                             "or export from an already quantized (QDQ) model.")
        if Path(onnx_path).resolve() != dest.resolve():
            # TensorRT 10's fp16 builds this fp32 ONNX with BuilderFlag.FP16: TensorRT picks fp16 kernels per
            # layer, which keeps more accuracy than converting the graph first.
            shutil.copyfile(onnx_path, dest)
        # extra["typical"]: dim ranges for this model, e.g. typical_from_processing(manifest["processing"])
        typical = dict(options.extra.get("typical", {}))
        typical.update({dim: (n, n, n) for dim, n in (options.static_shapes or {}).items()})
        recipe = make_recipe(read_graph_spec(dest, graph), options.precision, typical, options.shapes,
                             options.workspace_mb)
        if options.precision == "fp16":  # only TensorRT's build makes these files fp16 engines
            recipe["backends"] = [self.backend]
        return BuiltArtifact("onnx", dest.name, [dest.name], recipe)


def read_graph_spec(onnx_path: Path, graph: str) -> GraphSpec:
    """The graph's inputs (names, symbolic dims) as the runtime sees them; weights are not read."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    inputs = []
    for v in model.graph.input:
        if v.name in inits:
            continue
        dims = tuple(d.dim_param if d.dim_param else (d.dim_value if d.HasField("dim_value") else "?")
                     for d in v.type.tensor_type.shape.dim)
        dtype = onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).name
        inputs.append(TensorSpec(v.name, dtype, dims))
    return GraphSpec(graph, tuple(inputs), ())


def has_qdq(onnx_path: Path) -> bool:
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    return any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node)
