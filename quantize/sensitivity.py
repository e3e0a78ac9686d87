"""Which weight layers hurt most under INT8, measured — the order in which --fallback keeps layers in
higher precision.

For each graph, the fp32 ONNX is quantized once (static QDQ, MinMax, on feeds recorded through the
bundle's own pipeline) and both models are run on the same feeds with every weight node's input and
output exposed. A node's damage is the relative error it ADDS: error of its output minus error of its
(pre-quantization) input, so a layer downstream of a bad one is not blamed for it. Node names are the
ONNX node names, which ONNX Runtime's quantizers keep and OpenVINO keeps as friendly names, so one
ranking serves every target (and fp16, where keeping a node means keeping it in fp32). Dynamic INT8 is
ranked with a dynamic quantization (its error is in per-call activation ranges, not calibrated ones).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

MAX_FEEDS = 8  # a ranking, not a calibration: a few calls are enough and keep --fallback fast


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        return 0.0
    return float(np.linalg.norm(a - b) / (np.linalg.norm(b) + 1e-12))


def _with_outputs(model, names: list[str]):
    """A copy of `model` whose graph also outputs `names` (types left to ORT's inference)."""
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for n in names:
        if n not in have:
            m.graph.output.append(onnx.helper.make_empty_tensor_value_info(n))
            have.add(n)
    return m


def _run(model, feeds: list[dict], names: list[str]) -> list[dict[str, np.ndarray]]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every named tensor
    so.log_severity_level = 3
    sess = ort.InferenceSession(_with_outputs(model, names).SerializeToString(), so, providers=["CPUExecutionProvider"])
    inputs = {i.name for i in sess.get_inputs()}
    return [dict(zip(names, sess.run(names, {k: v for k, v in f.items() if k in inputs}))) for f in feeds]


def node_damage(fp32_onnx: Path, feeds: list[dict[str, np.ndarray]], method: str = "static") -> dict[str, float]:
    """{weight node name: relative output error it adds under INT8 (`method`: static QDQ or dynamic)}."""
    import onnx

    from .int8_ort import _quiet, quantize_dynamic_onnx, quantize_static_onnx, weight_nodes

    feeds = feeds[:MAX_FEEDS]
    with tempfile.TemporaryDirectory(prefix="edgetool-sens-") as tmp:
        qpath = Path(tmp) / "q.onnx"
        with _quiet():
            if method == "dynamic":
                quantize_dynamic_onnx(Path(fp32_onnx), qpath)
            else:
                quantize_static_onnx(Path(fp32_onnx), qpath, feeds, "minmax", per_channel=True)
        fp32 = onnx.load(str(fp32_onnx))
        quant = onnx.load(str(qpath))
    del fp32.graph.value_info[:]
    del quant.graph.value_info[:]
    nodes = {n.name: n for n in fp32.graph.node}
    weights = [n for n in weight_nodes(fp32) if n in nodes]
    quant_tensors = {o for n in quant.graph.node for o in n.output} | {i.name for i in quant.graph.input}
    pairs = [(n, nodes[n].input[0], nodes[n].output[0]) for n in weights]
    pairs = [p for p in pairs if p[1] in quant_tensors and p[2] in quant_tensors]
    names = sorted({t for _, i, o in pairs for t in (i, o)})
    ref, got = _run(fp32, feeds, names), _run(quant, feeds, names)
    damage = {}
    for node, i, o in pairs:
        added = [_rel(g[o], r[o]) - _rel(g[i], r[i]) for g, r in zip(got, ref)]
        damage[node] = float(np.mean(added))
    return damage


def rank(graph_damage: dict[str, dict[str, float]]) -> list[str]:
    """Node names, least damaging first (so the last k are the k to keep), over all graphs."""
    scored = [(d, g, n) for g, nodes in graph_damage.items() for n, d in nodes.items()]
    return [n for _, _, n in sorted(scored)]
