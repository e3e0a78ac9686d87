"""ONNX Runtime's bound runner (OnnxRuntimeBackend.bind_in_place), on a two-node graph: inputs fed again with the
same shape are copied into the buffer already bound, an output array passed again stays bound — and each call
still sees its own feeds and writes its own outputs."""
from __future__ import annotations

import numpy as np
import pytest

from edgetool.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
from edgetool.runtime.bundle import GraphSpec, TensorSpec
from edgetool.runtime.errors import UsageError


@pytest.fixture(scope="module")
def runner_factory(tmp_path_factory):
    import onnx
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Cast", ["input_ids"], ["ids_f"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["ids_f", "two"], ["logits"]),
             helper.make_node("Identity", ["past_key_values.0.key"], ["present.0.key"])]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
         helper.make_tensor_value_info("past_key_values.0.key", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "sequence"]),
         helper.make_tensor_value_info("present.0.key", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    path = tmp_path_factory.mktemp("bound") / "g.onnx"
    onnx.save_model(model, str(path))
    spec = GraphSpec("g", (TensorSpec("input_ids", "int64", ("batch", "sequence")),
                           TensorSpec("past_key_values.0.key", "float32", ("batch", 4))),
                     (TensorSpec("logits", "float32", ("batch", "sequence")),
                      TensorSpec("present.0.key", "float32", ("batch", 4))))
    backend = OnnxRuntimeBackend(path, spec)

    def make():
        cache = np.arange(4, dtype=np.float32)[None]
        return backend.bind_in_place({"past_key_values.0.key": cache}, {"present.0.key": "past_key_values.0.key"}), cache
    return make


def test_same_shape_feeds_reach_the_graph(runner_factory):
    run, cache = runner_factory()
    ids = np.array([[1, 2, 3]], np.int64)
    np.testing.assert_array_equal(run({"input_ids": ids})["logits"], [[2, 4, 6]])
    ids[0, 0] = 7  # the caller's array changed after the call: the runner holds its own buffer
    np.testing.assert_array_equal(run({"input_ids": np.array([[5, 6, 7]], np.int64)})["logits"], [[10, 12, 14]])
    np.testing.assert_array_equal(run({"input_ids": np.array([[9]], np.int64)})["logits"], [[18]])  # new shape
    np.testing.assert_array_equal(run({"input_ids": np.array([[4]], np.int64)})["logits"], [[8]])
    np.testing.assert_array_equal(cache, [[0, 1, 2, 3]])  # the shared buffer, written in place by the graph


def test_output_arrays_passed_again_are_written_each_call(runner_factory):
    run, _ = runner_factory()
    a, b = np.zeros((1, 1), np.float32), np.zeros((1, 1), np.float32)
    assert run({"input_ids": np.array([[3]], np.int64)}, {"logits": a})["logits"] is a and a[0, 0] == 6
    run({"input_ids": np.array([[4]], np.int64)}, {"logits": a})
    assert a[0, 0] == 8
    run({"input_ids": np.array([[5]], np.int64)}, {"logits": b})  # another array: bound to it instead
    assert b[0, 0] == 10 and a[0, 0] == 8
    out = run({"input_ids": np.array([[1, 1]], np.int64)})["logits"]  # none passed: allocated by the engine
    np.testing.assert_array_equal(out, [[2, 2]])


def test_wrong_dtype_is_a_usage_error(runner_factory):
    run, _ = runner_factory()
    with pytest.raises(UsageError, match="input_ids.*int64"):
        run({"input_ids": np.array([[1]], np.int32)})
