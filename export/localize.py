"""`edgetool validate --localize`: find the first node of an ONNX graph whose output diverges.

Engines fuse and reorder nodes, and PyTorch has no node-aligned view of an ONNX graph, so localization
compares two ONNX graphs of the same model on the same feeds: the candidate artifact's ONNX (for an
OpenVINO IR or TensorRT engine: the ONNX it was built from, at that precision) against a reference ONNX
— another artifact of the bundle (e.g. the fp32 ONNX), another bundle's ONNX, or a fresh re-export of
the source model (--against torch / golden). Every intermediate tensor both graphs produce under the
same name becomes an extra graph output; both run on ONNX Runtime with graph optimizations off, and the
first node in topological order (among nodes that depend on the inputs) whose output is out of
tolerance is reported with its op type, error and initializers. Initializers that differ by name are
listed too: a changed weight is the usual culprit.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from edgetool.runtime.errors import UsageError
from edgetool.runtime.validate import ErrorAccumulator

_MAX_PROTO = 1_900_000_000  # protobuf's 2 GB limit: bigger models go through a file with external data
_REEXPORTS: dict[tuple, Path] = {}


def localize(bundle, backend: str, precision: str, against, graph: str, feeds: dict, thresholds, model=None) -> dict:
    """The `localizer` hook of runtime.validate.validate_bundle."""
    cand_path = _onnx_artifact(bundle, precision, graph)
    if cand_path is None:
        have = sorted(a.id for a in bundle.artifacts if a.graph == graph and a.format == "onnx")
        raise UsageError(f"No ONNX artifact of graph '{graph}' at {precision} in {bundle.root} to localize in "
                         f"(ONNX artifacts: {', '.join(have) or 'none'}).")
    cand_label = f"onnx/{precision}/{graph}"
    note = None
    if against.kind in ("artifact", "bundle"):
        ref_bundle = against.bundle
        ref_path = _onnx_artifact(ref_bundle, against.precision, graph) or _onnx_artifact(ref_bundle, "fp32", graph)
        if ref_path is None:
            raise UsageError(f"The reference {against.label} has no ONNX artifact of graph '{graph}' to compare with.")
        ref_label = ("" if against.kind == "artifact" else f"{ref_bundle.root}::") + \
            f"onnx/{'fp32' if ref_path == _onnx_artifact(ref_bundle, 'fp32', graph) else against.precision}/{graph}"
    elif against.kind == "golden" and precision != "fp32" and _onnx_artifact(bundle, "fp32", graph) is not None:
        ref_path, ref_label = _onnx_artifact(bundle, "fp32", graph), f"onnx/fp32/{graph}"
        note = "golden outputs are not node-aligned with an ONNX graph; localized against the bundle's fp32 ONNX"
    else:  # torch, or golden for an fp32 artifact: a fresh export of the source model is the node-aligned reference
        ref_path, ref_label = _reexport(bundle, graph, model), f"re-export of {bundle.manifest.get('provenance', {}).get('source', 'the source model')}"
        if against.kind == "golden":
            note = "golden outputs are not node-aligned with an ONNX graph; localized against a fresh export of the source model"
    if Path(ref_path).resolve() == Path(cand_path).resolve():
        return {"graph": graph, "candidate": f"{backend}/{precision}", "reference": ref_label,
                "error": f"the candidate {backend}/{precision} is compiled from {cand_label}, which is the reference "
                         "itself: the divergence happens inside the engine, not in the ONNX graph. Compare its ONNX "
                         f"with another reference (e.g. --against torch) or run --backend onnxruntime."}
    result = compare_graphs(cand_path, ref_path, feeds, thresholds, graph)
    result.update(graph=graph, candidate=cand_label + ("" if backend == "onnxruntime" else f" (source of {backend}/{precision})"),
                  reference=ref_label)
    if note:
        result["note"] = note
    return result


def _onnx_artifact(bundle, precision: str, graph: str) -> Path | None:
    for a in bundle.artifacts:
        if a.graph == graph and a.precision == precision and a.format == "onnx":
            for rel in a.files:
                bundle.file(rel)  # hash-checked like everything else
            return bundle.root / a.path
    return None


def _reexport(bundle, graph: str, model) -> Path:
    from .exporter import load_for
    from .live_reference import source_options
    from .onnx_export import export_graph

    key = (str(bundle.root), graph, str(model))
    if key in _REEXPORTS and _REEXPORTS[key].is_file():
        return _REEXPORTS[key]
    opts = source_options(bundle, model)
    _, _, graphs = load_for(opts)
    chosen = [g for g in graphs if g.name == graph]
    if not chosen:
        raise UsageError(f"The source model's recipe has no graph '{graph}' (it has {[g.name for g in graphs]}).")
    out = Path(tempfile.mkdtemp(prefix="edgetool-localize-")) / f"{graph}.onnx"
    export_graph(chosen[0], out, opts.opset, opts.dynamo)
    _REEXPORTS[key] = out
    return out


def compare_graphs(cand_path, ref_path, feeds: dict, thresholds, graph: str = "model", max_listed: int = 5) -> dict:
    """Run both ONNX graphs with every shared intermediate tensor exposed; the first divergent node."""
    import onnx

    cand = onnx.load(str(cand_path))
    ref = onnx.load(str(ref_path))
    changed = _changed_initializers(cand, ref)
    ref_produced = {o for n in ref.graph.node for o in n.output if o}
    dynamic = _dynamic_tensors(cand.graph)
    nodes = [n for n in cand.graph.node]
    shared = [o for n in nodes for o in n.output if o and o in ref_produced]
    if not shared:
        raise UsageError(f"{cand_path} and {ref_path} share no intermediate tensor names: they are not node-aligned "
                         "(different exporters?). Re-export both with the same edgetool version and exporter.")
    got = _run_with_outputs(cand, shared, feeds)
    want = _run_with_outputs(ref, shared, feeds)
    produced_by = {o: n for n in nodes for o in n.output if o}
    inits = {i.name for i in cand.graph.initializer}
    passed: set[str] = set()
    divergent, weight_nodes = [], []
    compared = 0
    for n in nodes:
        for o in n.output:
            if not o or o not in got or o not in want:
                continue
            compared += 1
            acc = ErrorAccumulator(graph, o, thresholds.atol, thresholds.rtol, thresholds.stat)
            try:
                acc.add(want[o], np.asarray(got[o]).astype(np.asarray(want[o]).dtype, copy=False))
            except (TypeError, ValueError):
                continue
            res = acc.result()
            if res["passed"]:
                passed.add(n.name or o)
                continue
            entry = {"node": n.name or o, "op_type": n.op_type, "output": o, "max_abs": res["max_abs"],
                     "max_rel": res["max_rel"], "inputs": list(n.input),
                     "initializers": [i for i in n.input if i in inits]}
            if res.get("error"):
                entry["error"] = res["error"]
            (divergent if o in dynamic else weight_nodes).append(entry)
    first = divergent[0] if divergent else None
    last_ok = _nearest_agreeing_ancestor(first, produced_by, passed) if first else None
    return {"compared": compared, "aligned": round(len(shared) / max(1, sum(1 for n in nodes for o in n.output if o)), 3),
            "changed_initializers": changed, "first_divergent": first, "last_agreeing": last_ok,
            "divergent_nodes": len(divergent), "next_divergent": divergent[1:max_listed],
            "changed_weight_nodes": weight_nodes[:max_listed]}


def _changed_initializers(cand, ref) -> dict[str, float]:
    from onnx import numpy_helper

    ref_init = {i.name: i for i in ref.graph.initializer}
    out = {}
    for i in cand.graph.initializer:
        r = ref_init.get(i.name)
        if r is None:
            continue
        a, b = numpy_helper.to_array(i), numpy_helper.to_array(r)
        if a.shape != b.shape:
            out[i.name] = float("inf")
        elif not np.array_equal(a, b):
            out[i.name] = float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())
    return out


def _dynamic_tensors(g) -> set[str]:
    """Tensors that depend on the graph inputs (not weight-only constant subgraphs)."""
    inits = {i.name for i in g.initializer}
    live = {i.name for i in g.input if i.name not in inits}
    for n in g.node:
        if any(i in live for i in n.input if i):
            live.update(o for o in n.output if o)
    return live


def _nearest_agreeing_ancestor(first: dict, produced_by: dict, passed: set[str]) -> str | None:
    seen, frontier = set(), list(first["inputs"])
    while frontier:
        nxt = []
        for t in frontier:
            node = produced_by.get(t)
            if node is None or (node.name or t) in seen:
                continue
            seen.add(node.name or t)
            if (node.name or t) in passed:
                return node.name or t
            nxt.extend(node.input)
        frontier = nxt
    return None


def _run_with_outputs(model, names: list[str], feeds: dict) -> dict:
    import onnx
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    existing = {o.name for o in m.graph.output}
    m.graph.output.extend(onnx.ValueInfoProto(name=n) for n in names if n not in existing)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    tmp = None
    if m.ByteSize() > _MAX_PROTO:
        tmp = tempfile.TemporaryDirectory(prefix="edgetool-localize-")
        path = Path(tmp.name) / "model.onnx"
        onnx.save_model(m, str(path), save_as_external_data=True, location="model.onnx.data")
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    else:
        sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    inputs = {i.name for i in sess.get_inputs()}
    missing = inputs - set(feeds)
    if missing:
        raise UsageError(f"The recorded feeds lack input(s) {sorted(missing)} of the graph being localized.")
    out_names = [o.name for o in sess.get_outputs()]
    values = sess.run(out_names, {k: v for k, v in feeds.items() if k in inputs})
    if tmp is not None:
        tmp.cleanup()
    return dict(zip(out_names, values))
