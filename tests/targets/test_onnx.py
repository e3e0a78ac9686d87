"""The ONNX Runtime target: the artifact is the ONNX as handed over (fp32 from export, fp16/int8 from the
quantizer); it refuses what it cannot build."""
from __future__ import annotations

import numpy as np
import pytest

from edgetool.runtime.errors import UnsupportedError
from edgetool.targets import BuildOptions, get_target


def test_fp32_artifact_is_the_onnx_and_runs(tiny_onnx, tiny_answer, tmp_path):
    import onnxruntime as ort

    built = get_target("onnx").build(tiny_onnx, tmp_path / "out", "model", BuildOptions("fp32"))
    assert built.format == "onnx" and built.files == ["model.onnx"] and built.path == "model.onnx"
    assert (tmp_path / "out" / "model.onnx").read_bytes() == tiny_onnx.read_bytes()
    x = np.random.default_rng(1).standard_normal((2, 3, 8)).astype(np.float32)
    got = ort.InferenceSession(str(tmp_path / "out" / "model.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[0]
    np.testing.assert_allclose(got, tiny_answer(x), rtol=1e-5, atol=1e-6)


def test_quantizer_details_travel_into_the_artifact_options(tiny_onnx, tmp_path):
    built = get_target("onnx").build(tiny_onnx, tmp_path, "model",
                                     BuildOptions("int8", extra={"details": {"method": "dynamic"}}))
    assert built.options == {"method": "dynamic"}


def test_an_unknown_precision_is_refused_with_the_known_ones(tiny_onnx, tmp_path):
    with pytest.raises(UnsupportedError, match="cannot build int3 .*fp32, fp16, int8, int4"):
        get_target("onnx").build(tiny_onnx, tmp_path, "model", BuildOptions("int3"))
    assert not list(tmp_path.iterdir())
