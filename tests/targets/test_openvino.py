"""The OpenVINO target: ONNX -> IR (.xml + .bin) at fp32 and fp16 (compressed weights), static shapes
from named dims; INT8 belongs to the quantizer (NNCF)."""
from __future__ import annotations

import numpy as np
import pytest

from edgetool.runtime.errors import UsageError
from edgetool.targets import BuildOptions, get_target
from edgetool.targets.openvino_target import onnx_input_dims, parse_static_shapes


def _run(xml, x):
    import openvino as ov

    return ov.Core().compile_model(str(xml), "CPU")({"x": x})[0]


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_ir_files_and_answers(tiny_onnx, tiny_answer, tmp_path, precision):
    built = get_target("openvino").build(tiny_onnx, tmp_path, "model", BuildOptions(precision))
    assert built.format == "openvino-ir" and built.files == ["model.xml", "model.bin"]
    assert (built.options.get("weights") == "fp16 (compressed)") == (precision == "fp16")
    x = np.random.default_rng(1).standard_normal((2, 5, 8)).astype(np.float32)
    np.testing.assert_allclose(_run(tmp_path / "model.xml", x), tiny_answer(x), rtol=1e-2, atol=1e-2)


def test_fp16_weights_take_half_the_space(tiny_onnx, tmp_path):
    sizes = {}
    for p in ("fp32", "fp16"):
        get_target("openvino").build(tiny_onnx, tmp_path / p, "model", BuildOptions(p))
        sizes[p] = (tmp_path / p / "model.bin").stat().st_size
    assert sizes["fp16"] <= sizes["fp32"] * 0.6


def test_static_shapes_fix_the_named_dims(tiny_onnx, tmp_path):
    import openvino as ov

    assert onnx_input_dims(tiny_onnx) == {"x": ("batch", "sequence", 8)}
    built = get_target("openvino").build(tiny_onnx, tmp_path, "model",
                                         BuildOptions("fp32", static_shapes=parse_static_shapes("batch=1,sequence=6")))
    assert built.options["static_shapes"] == {"batch": 1, "sequence": 6}
    assert [d.get_length() for d in ov.Core().read_model(str(tmp_path / "model.xml")).inputs[0].get_partial_shape()] \
        == [1, 6, 8]


@pytest.mark.parametrize("text,match", [("batch=1,seq=6", "names seq, which no input"),
                                        ("batch=0", "NAME=SIZE pairs"), ("batch", "NAME=SIZE pairs")])
def test_bad_static_shapes_name_the_dims_it_has(tiny_onnx, tmp_path, text, match):
    with pytest.raises(UsageError, match=match):
        get_target("openvino").build(tiny_onnx, tmp_path, "model",
                                     BuildOptions("fp32", static_shapes=parse_static_shapes(text)))


def test_int8_is_the_quantizers(tiny_onnx, tmp_path):
    with pytest.raises(UsageError, match="edgetool quantize BUNDLE --target openvino --precision int8"):
        get_target("openvino").build(tiny_onnx, tmp_path, "model", BuildOptions("int8"))
