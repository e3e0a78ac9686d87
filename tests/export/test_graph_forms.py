"""export/graph_forms.py: each rewrite fires on its pattern only, and the rewritten graph computes the same values."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from export.graph_forms import rewrite


def _model(nodes, inputs, outputs, inits=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, [numpy_helper.from_array(np.asarray(v), n) for n, v in inits])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    return onnx.shape_inference.infer_shapes(model)


def _run(model, feeds):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), so).run(None, feeds)


def _rms_model(reciprocal_reused: bool):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8])
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    nodes = [helper.make_node("Pow", ["x", "two"], ["sq"]),
             helper.make_node("ReduceMean", ["sq", "axis"], ["mean"]),
             helper.make_node("Add", ["mean", "eps"], ["var"]),
             helper.make_node("Sqrt", ["var"], ["std"]),
             helper.make_node("Reciprocal", ["std"], ["rstd"]),
             helper.make_node("Mul", ["x", "rstd"], ["y"])]
    if reciprocal_reused:
        outs.append(helper.make_tensor_value_info("rstd", TensorProto.FLOAT, None))
    return _model(nodes, [x], outs, [("two", np.float32(2)), ("axis", np.array([-1])), ("eps", np.float32(1e-5))])


def _rotate_half_model(second_start: int = 4, width: int = 8):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, width])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Slice", ["x", "zero", "half", "axis", "one"], ["x1"]),
             helper.make_node("Slice", ["x", "second", "big", "axis", "one"], ["x2"]),
             helper.make_node("Neg", ["x2"], ["nx2"]),
             helper.make_node("Concat", ["nx2", "x1"], ["y"], axis=-1)]
    inits = [("zero", np.array([0])), ("half", np.array([4])), ("second", np.array([second_start])),
             ("big", np.array([2**63 - 1])), ("axis", np.array([3])), ("one", np.array([1]))]
    return _model(nodes, [x], [y], inits)


def test_rsqrt_becomes_div_with_the_same_values():
    model = _rms_model(reciprocal_reused=False)
    x = np.random.default_rng(0).standard_normal((2, 3, 8)).astype(np.float32)
    before = _run(model, {"x": x})[0]
    assert rewrite(model) == {"rsqrt-as-div": 1}
    onnx.checker.check_model(model)
    assert [n.op_type for n in model.graph.node] == ["Pow", "ReduceMean", "Add", "Sqrt", "Div"]
    np.testing.assert_allclose(_run(model, {"x": x})[0], before, rtol=1e-6)


def test_a_reciprocal_used_elsewhere_is_left_alone():
    model = _rms_model(reciprocal_reused=True)
    assert rewrite(model) == {}
    assert "Reciprocal" in [n.op_type for n in model.graph.node]


def test_rotate_half_becomes_an_exact_gather():
    model = _rotate_half_model()
    x = np.random.default_rng(1).standard_normal((1, 2, 3, 8)).astype(np.float32)
    before = _run(model, {"x": x})[0]
    assert rewrite(model) == {"rotate-half-as-gather": 1}
    onnx.checker.check_model(model)
    assert [n.op_type for n in model.graph.node] == ["Gather", "Mul"]
    # the slices' bounds went with them: no MatMul with a constant a weight-only quantizer would take
    assert sorted(i.name for i in model.graph.initializer) == ["edgetool_rotate_half_order_8",
                                                                "edgetool_rotate_half_signs_8"]
    np.testing.assert_array_equal(_run(model, {"x": x})[0], before)


@pytest.mark.parametrize("second_start", [3, 5])
def test_slices_that_are_not_the_two_halves_are_left_alone(second_start):
    model = _rotate_half_model(second_start=second_start)
    assert rewrite(model) == {}
    assert [n.op_type for n in model.graph.node] == ["Slice", "Slice", "Neg", "Concat"]
