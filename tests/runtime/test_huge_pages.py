"""Huge pages for a per-token graph's weights (runtime/backends/huge_pages.py): only memory mapped during the load
is touched, its contents stay as they were, other graphs are left alone, and EDGETOOL_HUGE_PAGES=0 turns it off."""
from __future__ import annotations

import mmap
import os
import subprocess
import sys

import numpy as np
import pytest

from edgetool.runtime.backends import huge_pages

ROWS, COLS = 1024, 2048  # an 8 MB weight: several whole huge pages wherever the allocator puts it


def test_new_ranges_are_what_was_mapped_or_grown_since():
    before = [(0, 10), (20, 30), (50, 60)]
    after = [(0, 15), (20, 30), (40, 45), (55, 70)]  # grew, unchanged, new, moved partly past its old end
    assert huge_pages.new_ranges(before, after) == [(10, 15), (40, 45), (60, 70)]


def test_new_ranges_match_a_range_by_range_subtraction():
    def reference(before, after):  # every old range cut out of every new one: quadratic, obviously right
        out = []
        for start, end in sorted(after):
            pieces = [(start, end)]
            for b0, b1 in before:
                pieces = [p for s, e in pieces for p in ((s, min(e, b0)), (max(s, b1), e)) if p[0] < p[1]]
            out += pieces
        return out

    rng = np.random.default_rng(0)

    def disjoint(n):
        ends = np.sort(rng.choice(1000, 2 * n, replace=False))
        return [(int(ends[2 * k]), int(ends[2 * k + 1])) for k in range(n)]

    for _ in range(500):
        before, after = disjoint(int(rng.integers(0, 12))), disjoint(int(rng.integers(0, 12)))
        assert huge_pages.new_ranges(before, after) == reference(before, after)


@pytest.fixture(scope="module")
def kernel_collapses():
    """Whether this kernel moves anonymous memory into huge pages on request (Linux 6.1+, THP not "never")."""
    if not huge_pages.enabled():
        pytest.skip("not Linux, or EDGETOOL_HUGE_PAGES=0")
    before = huge_pages.snapshot()
    probe = mmap.mmap(-1, 4 * huge_pages.HUGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)  # surely new memory
    view = np.frombuffer(probe, np.uint8)
    view[:] = 7
    collapsed = huge_pages.keep_new(before)
    assert (view == 7).all()  # contents kept
    del view
    probe.close()
    if collapsed == 0:
        pytest.skip("this kernel declines MADV_COLLAPSE (older than 6.1, or transparent huge pages off)")


@pytest.fixture(scope="module")
def matmul_graph(tmp_path_factory):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(0).standard_normal((ROWS, COLS)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, ROWS])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, COLS])],
        [numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    folder = tmp_path_factory.mktemp("huge")
    onnx.save_model(model, str(folder / "g.onnx"))
    np.save(folder / "w.npy", weight)
    return folder


# A fresh interpreter per load: in a long test process the engine may reuse memory freed by earlier tests, which
# is not new and is left alone.
LOAD = """
import sys, numpy as np
from pathlib import Path
from edgetool.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
from edgetool.runtime.bundle import GraphSpec, TensorSpec
folder, rows, cols = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
spec = GraphSpec(sys.argv[4], (TensorSpec("x", "float32", (1, rows)),), (TensorSpec("y", "float32", (1, cols)),))
backend = OnnxRuntimeBackend(folder / "g.onnx", spec)
x = np.random.default_rng(1).standard_normal((1, rows)).astype(np.float32)
np.testing.assert_allclose(backend.run({"x": x})["y"], x @ np.load(folder / "w.npy"), rtol=1e-4, atol=1e-3)
print(backend.huge_page_bytes)
"""


def _load(folder, graph: str = "decoder", **env) -> int:
    done = subprocess.run([sys.executable, "-c", LOAD, str(folder), str(ROWS), str(COLS), graph], capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.split()[-1])


def test_session_weights_move_to_huge_pages_and_still_compute(kernel_collapses, matmul_graph):
    assert _load(matmul_graph) >= huge_pages.HUGE  # and its answer was checked against numpy's


def test_turned_off_by_the_environment(kernel_collapses, matmul_graph):
    assert _load(matmul_graph, **{huge_pages.ENV: "0"}) == 0


def test_graphs_run_once_per_request_keep_their_cold_start(kernel_collapses, matmul_graph):
    assert _load(matmul_graph, graph="encoder") == 0  # only per-token graphs (names.PER_TOKEN_GRAPHS)
