"""OpenVINO target: ONNX -> IR (.xml + .bin)."""
from __future__ import annotations

from pathlib import Path

from edgetool.runtime.backends.openvino_backend import import_openvino

from .base import BuildOptions, BuiltArtifact, Target


class OpenVINOTarget(Target):
    name = "openvino"
    format = "openvino-ir"
    precisions = ("fp32", "fp16", "int8")
    backend = "openvino"

    def check_environment(self) -> None:
        import_openvino()

    def build(self, onnx_path: Path, out_dir: Path, graph: str, options: BuildOptions, calibration=None) -> BuiltArtifact:
        ov = import_openvino()
        out_dir.mkdir(parents=True, exist_ok=True)
        model = ov.convert_model(str(onnx_path))
        if options.static_shapes:
            model.reshape(_static_shapes(model, options.static_shapes))
        xml = out_dir / f"{graph}.xml"
        ov.save_model(model, str(xml), compress_to_fp16=options.precision == "fp16")
        return BuiltArtifact(self.format, xml.name, [xml.name, xml.with_suffix(".bin").name],
                             {"static_shapes": options.static_shapes} if options.static_shapes else {})


def _static_shapes(model, dims: dict[str, int]) -> dict:
    """Map named dynamic dims (batch=1, sequence=128) onto every input that has them."""
    shapes = {}
    for inp in model.inputs:
        names = [d for d in inp.get_partial_shape()]
        shape = []
        for i, d in enumerate(names):
            if d.is_static:
                shape.append(d.get_length())
            else:
                key = ("batch" if i == 0 else "sequence")
                shape.append(dims.get(key, dims.get(str(i), -1)))
        shapes[inp.get_any_name()] = shape
    return shapes
