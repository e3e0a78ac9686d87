"""Rewrites of a traced graph into equal computations, in standard ONNX, that the engines fuse.

The engines fuse patterns, not meanings. torch traces `x * torch.rsqrt(v)` as Mul(x, Reciprocal(Sqrt(v))),
and ONNX Runtime's RMS-norm fusion only knows Div(x, Sqrt(v)): every RMSNorm of a Llama-style decoder
(two per layer) then runs as seven small kernels instead of one SimplifiedLayerNormalization, which on a
SmolLM-135M-shaped decoder is a tenth of a decode step. Each rewrite here is exact up to the last bit of
float rounding (x / s against x * (1 / s)), keeps the graph's inputs and outputs, and only touches the
pattern it names; the parity gate then checks the rewritten graph against PyTorch like any other.

Rotary embeddings trace `rotate_half(x) = cat(-x2, x1)` as Slice, Slice, Neg, Concat; the same values are
Gather(x, [h..2h-1, 0..h-1]) * [-1]*h + [1]*h: two kernels instead of four, twice per layer, and exact. (A
MatMul by a signed permutation would be one kernel, but weight-only quantizers take every MatMul with a
constant operand for a weight.)

REWRITES is the registry: (name, function(graph) -> number of places rewritten).
"""
from __future__ import annotations

from collections import Counter
from typing import Callable

import numpy as np


def _consumers(graph) -> Counter:
    uses: Counter = Counter(name for node in graph.node for name in node.input)
    uses.update(o.name for o in graph.output)
    return uses


def rsqrt_as_div(graph) -> int:
    """Mul(x, Reciprocal(Sqrt(v))) -> Div(x, Sqrt(v)) where the reciprocal feeds only that Mul."""
    producers = {o: node for node in graph.node for o in node.output}
    uses = _consumers(graph)
    dropped, count = set(), 0
    for node in graph.node:
        if node.op_type != "Mul" or node.domain not in ("", "ai.onnx"):
            continue
        for i, name in enumerate(node.input):
            recip = producers.get(name)
            if recip is None or recip.op_type != "Reciprocal" or uses[name] != 1:
                continue
            sqrt = producers.get(recip.input[0])
            if sqrt is None or sqrt.op_type != "Sqrt":
                continue
            other = node.input[1 - i]
            node.op_type = "Div"
            del node.input[:]
            node.input.extend([other, recip.input[0]])
            dropped.add(id(recip))
            count += 1
            break
    if dropped:
        kept = [n for n in graph.node if id(n) not in dropped]
        del graph.node[:]
        graph.node.extend(kept)
    return count


def _constant(graph, name: str):
    for init in graph.initializer:
        if init.name == name:
            from onnx import numpy_helper
            return numpy_helper.to_array(init)
    return None


def _dims(graph) -> dict[str, tuple]:
    return {v.name: tuple(d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim)
            for v in list(graph.value_info) + list(graph.input) + list(graph.output)}


def _last_axis_slice(graph, node, dims) -> tuple[str, int, int] | None:
    """(input, start, end) of a Slice along the last axis with step 1 and constant bounds, else None."""
    if node is None or node.op_type != "Slice" or len(node.input) < 4:
        return None
    shape = dims.get(node.input[0])
    values = [_constant(graph, n) for n in node.input[1:5]]
    if shape is None or any(v is None or v.size != 1 for v in values[:3]):
        return None
    start, end, axis = (int(v.reshape(-1)[0]) for v in values[:3])
    step = 1 if len(values) < 4 or values[3] is None else int(values[3].reshape(-1)[0])
    if step != 1 or axis not in (-1, len(shape) - 1):
        return None
    return node.input[0], start, end


def rotate_half_as_gather(graph) -> int:
    """Concat(Neg(x[..., h:]), x[..., :h], axis=-1) -> Gather(x, order, axis=-1) * signs, for a float32 x whose
    last dim 2h is known."""
    from onnx import TensorProto, helper, numpy_helper

    producers = {o: node for node in graph.node for o in node.output}
    uses, dims = _consumers(graph), _dims(graph)
    floats = {v.name for v in list(graph.value_info) + list(graph.input)
              if v.type.tensor_type.elem_type == TensorProto.FLOAT}
    replaced, dropped, added = {}, set(), {}
    for node in graph.node:
        if node.op_type != "Concat" or len(node.input) != 2:
            continue
        neg, first_slice = producers.get(node.input[0]), producers.get(node.input[1])
        if neg is None or neg.op_type != "Neg":
            continue
        second_slice = producers.get(neg.input[0])
        a, b = _last_axis_slice(graph, second_slice, dims), _last_axis_slice(graph, first_slice, dims)
        if a is None or b is None or a[0] != b[0] or a[0] not in floats:
            continue
        shape = dims[a[0]]
        width = shape[-1]
        axis = next(at.i for at in node.attribute if at.name == "axis")
        if not width or width % 2 or axis not in (-1, len(shape) - 1):
            continue
        half = width // 2
        if (b[1], b[2]) != (0, half) or a[1] != half or a[2] < width:
            continue
        if any(uses[n] != 1 for n in (neg.output[0], second_slice.output[0], first_slice.output[0])):
            continue
        order, signs = f"edgetool_rotate_half_order_{width}", f"edgetool_rotate_half_signs_{width}"
        if order not in added:
            added[order] = numpy_helper.from_array(np.r_[np.arange(half, width), np.arange(half)].astype(np.int64), order)
            added[signs] = numpy_helper.from_array(np.r_[-np.ones(half), np.ones(half)].astype(np.float32), signs)
        gathered = f"{node.output[0]}_rotated"
        replaced[id(node)] = [helper.make_node("Gather", [a[0], order], [gathered], name=f"{node.name}_gather",
                                               axis=len(shape) - 1),
                              helper.make_node("Mul", [gathered, signs], list(node.output), name=node.name)]
        dropped.update({id(neg), id(second_slice), id(first_slice)})
    if replaced:
        nodes = [new for n in graph.node if id(n) not in dropped for new in replaced.get(id(n), [n])]
        del graph.node[:]
        graph.node.extend(nodes)
        graph.initializer.extend(added.values())
    return len(replaced)


REWRITES: tuple[tuple[str, Callable], ...] = (
    ("rsqrt-as-div", rsqrt_as_div),
    ("rotate-half-as-gather", rotate_half_as_gather),
)


def _drop_unused_initializers(graph) -> None:
    """The constants only the rewritten nodes read (a graph with subgraphs keeps all: they may read them)."""
    if any(at.type in (at.GRAPH, at.GRAPHS) for node in graph.node for at in node.attribute):
        return
    uses = _consumers(graph)
    uses.update(i.name for i in graph.input)  # an initializer listed as an input is an overridable default
    kept = [init for init in graph.initializer if uses[init.name]]
    if len(kept) < len(graph.initializer):
        del graph.initializer[:]
        graph.initializer.extend(kept)


def rewrite(model) -> dict[str, int]:
    """Apply every rewrite to the main graph in place; returns how many places each changed."""
    done = {name: n for name, fn in REWRITES if (n := fn(model.graph))}
    if done:
        _drop_unused_initializers(model.graph)
    return done
