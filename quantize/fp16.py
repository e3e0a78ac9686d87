"""FP16 ONNX: weights and compute in float16; graph inputs/outputs stay float32 (so the bundle's
declared I/O and every pipeline are unchanged) and numerically sensitive ops stay float32.

Uses onnxruntime.transformers.float16 (ships with onnxruntime; onnxconverter-common is not needed).
"""
from __future__ import annotations

from pathlib import Path

# Reductions/normalisations accumulate in the input precision in ORT's fp16 kernels; exp/log/pow
# overflow fp16's 65504 range quickly. Kept fp32 (ORT inserts the Casts at the boundaries).
SENSITIVE_OPS = ("Softmax", "LogSoftmax", "LayerNormalization", "SimplifiedLayerNormalization",
                 "SkipLayerNormalization", "GroupNormalization", "InstanceNormalization", "ReduceMean", "ReduceSum",
                 "ReduceSumSquare", "ReduceL2", "Pow", "Exp", "Log", "Sqrt", "Reciprocal", "Range", "CumSum",
                 "TopK", "NonMaxSuppression", "RandomNormalLike", "RandomUniformLike", "Resize")


def convert_fp16(src: Path, dst: Path, keep_ops: tuple[str, ...] = SENSITIVE_OPS,
                 keep_nodes: tuple[str, ...] = ()) -> dict:
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    model = onnx.load(str(src))
    del model.graph.value_info[:]  # stale shapes from the exporter confuse the converter's type propagation
    for i, node in enumerate(model.graph.node):
        node.name = node.name or f"edgetool_node_{i}"
    index_math = index_computations(model.graph)
    converted = convert_float_to_float16(model, keep_io_types=True,
                                         op_block_list=sorted(set(DEFAULT_OP_BLOCK_LIST) | set(keep_ops)),
                                         node_block_list=sorted(set(keep_nodes) | index_math))
    _unique_node_names(converted.graph)
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    onnx.save(converted, str(dst))
    return {"kept_fp32_ops": sorted(set(keep_ops) & {n.op_type for n in model.graph.node}),
            "kept_fp32_nodes": list(keep_nodes), "kept_fp32_index_math": len(index_math)}


def index_computations(graph) -> set[str]:
    """Nodes whose float results become integers (a Cast to an int type): position buckets (T5's
    log-spaced relative positions), computed sizes. In fp16 they round to a different integer — a
    different bucket, a wrong embedding row — so the whole float chain feeding such a Cast stays fp32."""
    import onnx

    ints = {onnx.TensorProto.INT64, onnx.TensorProto.INT32, onnx.TensorProto.INT16, onnx.TensorProto.INT8,
            onnx.TensorProto.UINT8, onnx.TensorProto.UINT16, onnx.TensorProto.UINT32, onnx.TensorProto.UINT64}
    producer = {o: n for n in graph.node for o in n.output}
    stack = [n.input[0] for n in graph.node if n.op_type == "Cast"
             and any(a.name == "to" and a.i in ints for a in n.attribute)]
    keep: set[str] = set()
    while stack:
        node = producer.get(stack.pop())
        if node is None or node.name in keep:
            continue
        keep.add(node.name)
        if node.op_type not in _SHAPE_ONLY:  # their float input decides only a shape or an index: stop there
            stack.extend(node.input)
    return keep


_SHAPE_ONLY = {"Shape", "Size", "ArgMax", "ArgMin", "TopK", "NonZero", "NonMaxSuppression"}


def fp16_candidates(src: Path, keep: int) -> list[str]:
    """The last `keep` weight-bearing nodes (a --fallback keeps them in fp32)."""
    if keep <= 0:
        return []
    import onnx

    from .int8_ort import keep_last, weight_nodes

    return keep_last(weight_nodes(onnx.load(str(src), load_external_data=False)), keep)


def _unique_node_names(graph) -> None:
    """The converter names its Cast nodes after the tensor they cast; a tensor cast at two places (common
    in dynamo exports, and for weights shared by two kept-fp32 nodes) gives two nodes one name — or two
    identical Casts defining one tensor — which ONNX Runtime rejects. Identical Casts are merged."""
    defined: dict[str, object] = {}
    for node in list(graph.node):
        dup = [o for o in node.output if o in defined]
        if dup:
            first = defined[dup[0]]
            if node.op_type == "Cast" and first.op_type == "Cast" and list(node.input) == list(first.input) \
                    and node.attribute == first.attribute:
                graph.node.remove(node)
                continue
            raise ValueError(f"fp16 conversion defined tensor {dup[0]!r} twice; please report this model.")
        for o in node.output:
            defined[o] = node
    seen: set[str] = set()
    for node in graph.node:
        if node.name and node.name in seen:
            i = 1
            while f"{node.name}_{i}" in seen:
                i += 1
            node.name = f"{node.name}_{i}"
        seen.add(node.name)
