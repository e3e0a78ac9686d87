"""OpenVINO target: ONNX -> IR (.xml + .bin).

- fp32: the converted model as is;
- fp16: weights compressed to fp16 (`compress_to_fp16`); the CPU plugin decompresses them and runs in
  its own inference precision, GPUs run fp16;
- int8: NNCF post-training quantization on calibration data recorded through the bundle's pipeline
  (see edgetool.quantize.calibration), `model_type=TRANSFORMER` for attention graphs;
- static shapes: `static_shapes={"batch": 1, "sequence": 128}` fixes the graph's named dims (names
  come from the ONNX graph, e.g. input_ids[batch, sequence]); the runtime pads shorter inputs.
"""
from __future__ import annotations

from pathlib import Path

from edgetool.runtime.backends.openvino_backend import import_openvino
from edgetool.runtime.errors import UsageError

from .base import BuildOptions, BuiltArtifact, Target


class OpenVINOTarget(Target):
    name = "openvino"
    format = "openvino-ir"
    precisions = ("fp32", "fp16", "int8", "int4")
    backend = "openvino"
    # NNCF calibrates (or, weight-only, compresses the weights); OpenVINO has no dynamic-quantization format
    int8_methods = ("static", "weight-only")
    takes_static_shapes = True

    def build_options(self, manifest, opts) -> BuildOptions:
        return BuildOptions(precision=opts.precision, static_shapes=getattr(opts, "static_shapes", None))

    def check_environment(self) -> None:
        import_openvino()

    def convert(self, onnx_path: Path, options: BuildOptions):
        """(OpenVINO model, ONNX input dims, artifact options): the ONNX converted, static shapes applied."""
        ov = import_openvino()
        model = ov.convert_model(str(onnx_path))
        dims = onnx_input_dims(onnx_path)
        opts: dict = {}
        if options.static_shapes:
            model.reshape(static_partial_shapes(dims, options.static_shapes))
            opts["static_shapes"] = dict(options.static_shapes)
        return model, dims, opts

    def save(self, model, out_dir: Path, graph: str, precision: str, opts: dict) -> BuiltArtifact:
        out_dir.mkdir(parents=True, exist_ok=True)
        if precision == "fp16":
            opts = {**opts, "weights": "fp16 (compressed)"}
        xml = out_dir / f"{graph}.xml"
        import_openvino().save_model(model, str(xml), compress_to_fp16=precision == "fp16")
        return BuiltArtifact(self.format, xml.name, [xml.name, xml.with_suffix(".bin").name], opts)

    def build(self, onnx_path: Path, out_dir: Path, graph: str, options: BuildOptions, calibration=None) -> BuiltArtifact:
        """fp32 and fp16 (compressed weights); int8 is NNCF's, in quantize/builds.py (convert -> quantize -> save)."""
        self.check_precision(options.precision)
        if options.precision in ("int8", "int4"):
            raise UsageError(f"OpenVINO {options.precision.upper()} is made by edgetool's quantizer (NNCF): "
                             f"edgetool quantize BUNDLE --target openvino --precision {options.precision}.")
        model, _, opts = self.convert(onnx_path, options)
        return self.save(model, out_dir, graph, options.precision, opts)


def onnx_input_dims(onnx_path: Path) -> dict[str, tuple]:
    """{input: (dim name or size, ...)} from the ONNX graph (weights are not read)."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    dims = {}
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        shape = inp.type.tensor_type.shape.dim
        dims[inp.name] = tuple(d.dim_param if d.dim_param else (d.dim_value if d.HasField("dim_value") else "?")
                               for d in shape)
    return dims


def static_partial_shapes(dims: dict[str, tuple], sizes: dict[str, int]) -> dict:
    """Map named dims (batch=1, sequence=128) onto every input that has them; others stay as they are."""
    known = sorted({d for ds in dims.values() for d in ds if isinstance(d, str) and d != "?"})
    unknown = [k for k in sizes if k not in known]
    if unknown:
        raise UsageError(f"--static-shapes names {', '.join(unknown)}, which no input of this graph has. "
                         f"Its dynamic dims are: {', '.join(known) or 'none'} (e.g. --static-shapes "
                         f"{','.join(f'{k}=1' for k in known[:2]) or 'batch=1'}).")
    for k, v in sizes.items():
        if not isinstance(v, int) or v < 1:
            raise UsageError(f"--static-shapes {k}={v!r}: sizes must be positive integers.")
    return {name: [sizes.get(d, -1) if isinstance(d, str) else d for d in ds] for name, ds in dims.items()}


def parse_static_shapes(text: str | None) -> dict[str, int] | None:
    """'batch=1,sequence=128' -> {"batch": 1, "sequence": 128}."""
    if not text:
        return None
    out = {}
    for part in text.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep or not key.strip() or not value.strip().isdigit() or int(value) < 1:
            raise UsageError(f"--static-shapes expects NAME=SIZE pairs like 'batch=1,sequence=128', got {text!r}.")
        out[key.strip()] = int(value)
    return out
