"""Which weight layers hurt most under INT8, measured — the order in which --fallback keeps layers in
higher precision.

A layer's damage is the error it causes at the graph's OUTPUT when it alone runs in INT8. A local
measure (error a layer adds to its own output) ranks badly: attention query/key projections show the
largest local error, yet softmax absorbs most of it, while a feed-forward layer with a smaller local
error moves the output most (measured on the tiny BERT encoder: keeping the three locally-worst layers
helped less than keeping the three locally-mildest).

One graph measures every layer: the fp32 graph gets, for each weight layer, its INT8 inputs (the
calibrated QuantizeLinear/DequantizeLinear pair and the dequantized weight, copied from a real static
QDQ quantization; for dynamic INT8, a DynamicQuantizeLinear round trip and the per-channel int8
weight) behind a `Where` switched by a boolean graph input. With all switches off it is the fp32
model; turning one on runs that layer in INT8. One session, (layers + 1) x feeds runs — no
re-quantization per layer. Node names are the ONNX node names, which ONNX Runtime's quantizers keep
and OpenVINO keeps as friendly names, so one ranking serves every target (and fp16, where keeping a
node means keeping it in fp32).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

MAX_FEEDS = 4  # a ranking, not a calibration: a few calls are enough and keep --fallback fast
SWITCH = "edgetool_int8_switch_"


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        return 0.0
    return float(np.linalg.norm(a - b) / (np.linalg.norm(b) + 1e-12))


def _static_inputs(quant) -> dict[str, dict[int, list]]:
    """{node: {input index: the quant graph's nodes computing that INT8 input}} for every node the QDQ
    quantizer quantized: the DequantizeLinear feeding it and, for an activation, the QuantizeLinear before."""
    producer = {o: n for n in quant.graph.node for o in n.output}
    chains: dict[str, dict[int, list]] = {}
    for node in quant.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            continue
        for idx, name in enumerate(node.input[:2]):
            dq = producer.get(name)
            if dq is None or dq.op_type != "DequantizeLinear":
                continue
            q = producer.get(dq.input[0])
            chains.setdefault(node.name, {})[idx] = ([q] if q is not None and q.op_type == "QuantizeLinear" else []) + [dq]
    return chains


def _int8_weight(w: np.ndarray, axis: int) -> np.ndarray:
    """Symmetric per-channel int8 round trip (ONNX Runtime's QInt8 per-channel weights)."""
    reduce = tuple(a for a in range(w.ndim) if a != axis % w.ndim)
    scale = np.maximum(np.abs(w).max(axis=reduce, keepdims=True), 1e-12) / 127.0
    return (np.clip(np.round(w / scale), -127, 127) * scale).astype(w.dtype)


def _uint8_table(t: np.ndarray) -> np.ndarray:
    """Asymmetric per-tensor uint8 round trip (what ONNX Runtime's dynamic INT8 does to a Gather table)."""
    lo, hi = min(float(t.min()), 0.0), max(float(t.max()), 0.0)
    scale = max(hi - lo, 1e-12) / 255.0
    zero = np.round(-lo / scale)
    return ((np.clip(np.round(t / scale) + zero, 0, 255) - zero) * scale).astype(t.dtype)


def _dynamic_matmul(g, node, k: int, inits: dict, consts: dict, added: list) -> dict[int, str]:
    """A MatMul/Gemm's dynamic-INT8 inputs: activation through DynamicQuantizeLinear and back, weight
    int8 per output channel. {} for nodes dynamic INT8 leaves alone (Conv, Attention)."""
    from onnx import helper, numpy_helper

    w_name = node.input[1]
    w = numpy_helper.to_array(inits[w_name]) if w_name in inits else (
        numpy_helper.to_array(consts[w_name].attribute[0].t) if w_name in consts else None)
    if w is None or node.op_type not in ("MatMul", "Gemm") or w.ndim != 2:
        return {}
    trans_b = any(a.name == "transB" and a.i for a in node.attribute)
    q_w = f"{SWITCH}{k}_w"
    g.initializer.append(numpy_helper.from_array(_int8_weight(w, 0 if trans_b else 1), q_w))
    y, s, z, dq = (f"{SWITCH}{k}_{t}" for t in ("y", "s", "z", "x"))
    added += [helper.make_node("DynamicQuantizeLinear", [node.input[0]], [y, s, z]),
              helper.make_node("DequantizeLinear", [y, s, z], [dq])]
    return {0: dq, 1: q_w}


def _switch_graph(fp32, quant, nodes: list[str]):
    """`fp32` with one boolean input per node in `nodes` selecting that node's INT8 inputs."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.ModelProto()
    m.CopyFrom(fp32)
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    consts = {o: n for n in g.node if n.op_type == "Constant" for o in n.output}
    chains = _static_inputs(quant) if quant is not None else {}
    qinits = {i.name: i for i in quant.graph.initializer} if quant is not None else {}
    have = {o for n in g.node for o in n.output} | set(inits) | {i.name for i in g.input}
    before: dict[str, list] = {}  # node name -> the new nodes that go right before it
    switched = []
    by_name = {n.name: n for n in g.node}
    for k, name in enumerate(nodes):
        node = by_name[name]
        added = before.setdefault(name, [])
        swaps: dict[int, str] = {}
        if quant is not None:
            for idx, chain in chains.get(name, {}).items():
                if any(t not in have and t not in qinits for c in chain for t in c.input if t):
                    continue  # the quantizer saw a tensor this graph lacks: cannot rebuild, leave in fp32
                for c in chain:
                    if c.output[0] not in have:
                        added.append(c)
                        have.update(c.output)
                        for t in c.input:
                            if t in qinits and t not in inits:
                                g.initializer.append(qinits[t])
                                inits[t] = qinits[t]
                swaps[idx] = chain[-1].output[0]
        else:  # dynamic: activations quantized per call (uint8), weights int8 per output channel
            if node.op_type == "Gather":  # an embedding table: ORT quantizes it per tensor, uint8
                table = numpy_helper.to_array(inits[node.input[0]])
                q_t = f"{SWITCH}{k}_table"
                g.initializer.append(numpy_helper.from_array(_uint8_table(table), q_t))
                swaps = {0: q_t}
            else:
                swaps = _dynamic_matmul(g, node, k, inits, consts, added)
        if not swaps:
            continue
        sel = f"{SWITCH}{k}"
        g.input.append(helper.make_tensor_value_info(sel, onnx.TensorProto.BOOL, []))
        for idx, q_name in swaps.items():
            out = f"{sel}_in{idx}"
            added.append(helper.make_node("Where", [sel, q_name, node.input[idx]], [out]))
            node.input[idx] = out
        switched.append((name, sel))
    # The new nodes read only what the switched node's own inputs read (tensors computed before it, and
    # initializers), and `nodes` is in graph order, so right before the node keeps the graph sorted.
    ordered = [c for n in g.node for c in (*before.get(n.name, ()), n)]
    rebuilt = [type(n)() for n in ordered]
    for copy, n in zip(rebuilt, ordered):
        copy.CopyFrom(n)
    del g.node[:]
    g.node.extend(rebuilt)
    return m, switched


def node_damage(fp32_onnx: Path, feeds: list[dict[str, np.ndarray]], method: str = "static") -> dict[str, float]:
    """{weight node name: relative error of the graph's first output when only that node runs in INT8
    (`method`: static QDQ, calibrated on `feeds`, or dynamic)}."""
    import onnx
    import onnxruntime as ort

    from .int8_ort import _quiet, preprocessed, quantize_static_onnx, weight_nodes

    feeds = feeds[:MAX_FEEDS]
    with tempfile.TemporaryDirectory(prefix="edgetool-sens-") as tmp:
        if method == "dynamic":
            fp32, quant = onnx.load(str(fp32_onnx)), None
        else:
            qpath = Path(tmp) / "q.onnx"
            with _quiet():
                quantize_static_onnx(Path(fp32_onnx), qpath, feeds, "minmax", per_channel=True)
            quant = onnx.load(str(qpath))
            with preprocessed(Path(fp32_onnx), "edgetool-sens-") as (prep, _):
                fp32 = onnx.load(str(prep))  # the graph the quantizer saw: same tensor names
    del fp32.graph.value_info[:]
    nodes = weight_nodes(fp32, gathers=method == "dynamic")  # dynamic INT8 quantizes embedding tables too
    model, switched = _switch_graph(fp32, quant, nodes)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    inputs = {i.name for i in sess.get_inputs()}
    off = {sel: np.array(False) for _, sel in switched}
    calls = [{k: v for k, v in f.items() if k in inputs} for f in feeds]
    ref = [sess.run(None, {**c, **off})[0] for c in calls]
    damage = {n: 0.0 for n in nodes}  # layers the quantizer left in float cost nothing
    for name, sel in switched:
        on = {**off, sel: np.array(True)}
        damage[name] = float(np.mean([_rel(sess.run(None, {**c, **on})[0], r) for c, r in zip(calls, ref)]))
    return damage


def rank(graph_damage: dict[str, dict[str, float]]) -> list[str]:
    """Node names, least damaging first (so the last k are the k to keep), over all graphs."""
    scored = [(d, g, n) for g, nodes in graph_damage.items() for n, d in nodes.items()]
    return [n for _, _, n in sorted(scored)]
