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
from edgetool.check.compare import ErrorAccumulator

_MAX_PROTO = 1_900_000_000  # protobuf's 2 GB limit: bigger models go through a file with external data
_REEXPORTS: dict[tuple, Path] = {}


def localize(bundle, backend: str, precision: str, against, graph: str, feeds: dict, thresholds, model=None) -> dict:
    """The `localizer` hook of runtime.validate.validate_bundle.

    1. The candidate's ONNX at its precision against the reference ONNX (node-aligned by tensor name).
    2. When the candidate is an OpenVINO IR and step 1 finds nothing (or cannot run): the IR's tensors on
       OpenVINO against its source ONNX on ONNX Runtime — the divergence is then in the engine."""
    ir_path = _ir_artifact(bundle, precision, graph) if backend == "openvino" else None
    cand_onnx = _onnx_artifact(bundle, precision, graph)
    if cand_onnx is None and ir_path is None:
        have = sorted(a.id for a in bundle.artifacts if a.graph == graph and a.format in ("onnx", "openvino-ir"))
        raise UsageError(f"No ONNX or OpenVINO IR artifact of graph '{graph}' at {precision} in {bundle.root} to "
                         f"localize in (it has: {', '.join(have) or 'none'}).")
    retyped = [a for a in bundle.artifacts if a.graph == graph and a.precision == precision and a.format == "onnx"
               and a.options.get("io_dtypes")]
    if retyped:  # an int8 KV cache (quantize/kv_cache.py): fp32's recorded cache cannot be fed to it
        raise UsageError(f"--localize replays fp32's recorded calls, whose float cache {retyped[0].id} (an int8 KV "
                         "cache) cannot take. Localize graph 'decoder' (the same weights, a float cache), or an "
                         "artifact quantized without --kv-cache int8.")
    cand_label = f"onnx/{precision}/{graph}"
    result, skipped = None, None
    if cand_onnx is not None:
        try:
            ref_path, ref_label, note = _reference_onnx(bundle, against, precision, graph, model)
        except ImportError as e:  # a re-export needs torch; on a device only the engine step can run
            ref_path, skipped = None, f"no re-export of the source model here ({e})"
        if ref_path is not None and Path(ref_path).resolve() == Path(cand_onnx).resolve():
            skipped = f"{cand_label} is the reference itself"
        elif ref_path is not None:
            result = compare_graphs(cand_onnx, ref_path, feeds, thresholds, graph)
            result.update(graph=graph, reference=ref_label, candidate=cand_label + (
                "" if backend == "onnxruntime" else f" (source of {backend}/{precision})"))
            if note:
                result["note"] = note
    if ir_path is not None and (result is None or not result.get("first_divergent")):
        src = cand_onnx or _onnx_artifact(bundle, "fp32", graph)
        if src is None:
            raise UsageError(f"No ONNX artifact of graph '{graph}' in {bundle.root} to compare the IR with.")
        engine = compare_openvino(ir_path, src, feeds, thresholds, graph)
        engine.update(graph=graph, candidate=f"openvino/{precision}/{graph} (IR on OpenVINO)",
                      reference=f"{src.relative_to(bundle.root)} on ONNX Runtime")
        why = (f"{cand_label} agrees with {result['reference']} node by node ({result['compared']} tensors)"
               if result is not None else skipped or "")
        engine["note"] = (why + "; " if why else "") + "compared the IR on OpenVINO with its source ONNX on ONNX Runtime"
        return engine
    if result is None:
        raise UsageError(f"Nothing to localize {backend}/{precision} against: {skipped}. "
                         "Compare with another reference (e.g. --against torch).")
    return result


def _reference_onnx(bundle, against, precision: str, graph: str, model) -> tuple[Path, str, str | None]:
    """(path, label, note) of the ONNX graph the candidate's ONNX is compared with."""
    if against.kind in ("artifact", "bundle"):
        ref_bundle = against.bundle
        ref_prec = against.precision if _onnx_artifact(ref_bundle, against.precision, graph) else "fp32"
        ref_path = _onnx_artifact(ref_bundle, ref_prec, graph)
        if ref_path is None:
            raise UsageError(f"The reference {against.label} has no ONNX artifact of graph '{graph}' to compare with.")
        prefix = "" if against.kind == "artifact" else f"{ref_bundle.root}::"
        return ref_path, f"{prefix}onnx/{ref_prec}/{graph}", None
    if against.kind == "golden" and precision != "fp32" and _onnx_artifact(bundle, "fp32", graph) is not None:
        return (_onnx_artifact(bundle, "fp32", graph), f"onnx/fp32/{graph}",
                "golden outputs are not node-aligned with an ONNX graph; localized against the bundle's fp32 ONNX")
    # torch, or golden for an fp32 artifact: a fresh export of the source model is the node-aligned reference
    source = (bundle.manifest.provenance and bundle.manifest.provenance.source) or "the source model"
    note = ("golden outputs are not node-aligned with an ONNX graph; localized against a fresh export of the "
            "source model") if against.kind == "golden" else None
    return _reexport(bundle, graph, model), f"re-export of {source}", note


def _ir_artifact(bundle, precision: str, graph: str) -> Path | None:
    for a in bundle.artifacts:
        if a.graph == graph and a.precision == precision and a.format == "openvino-ir":
            for rel in a.files:
                bundle.file(rel)
            return bundle.root / a.path
    return None


def compare_openvino(ir_path, onnx_path, feeds: dict, thresholds, graph: str = "model", max_listed: int = 5) -> dict:
    """The IR's intermediate tensors on OpenVINO (f32 hint, as validation runs it) against the same-named
    tensors of its source ONNX on ONNX Runtime: the first OpenVINO op (topological order) out of tolerance.
    OpenVINO fuses ops, so only tensors that survive under their ONNX name are compared."""
    import onnx
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(ir_path))
    ref = onnx.load(str(onnx_path))
    produced = {o for n in ref.graph.node for o in n.output if o}
    aligned = []
    for op in model.get_ordered_ops():
        if op.get_type_name() in ("Parameter", "Result", "Constant"):
            continue
        for out in op.outputs():
            names = sorted(n for n in out.get_names() if n in produced)
            if names:
                aligned.append((op, out, names[0]))
    if not aligned:
        raise UsageError(f"{ir_path} keeps none of {onnx_path}'s tensor names: nothing to align.")
    model.add_outputs([out for _, out, _ in aligned])
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    inputs = {p.get_any_name() for p in compiled.inputs}
    res = compiled.create_infer_request().infer({k: v for k, v in feeds.items() if k in inputs})
    got = {}
    for port, value in res.items():
        for n in port.get_names():
            got[n] = np.array(value)
    want = _run_with_outputs(ref, [name for _, _, name in aligned], feeds)
    dynamic = _dynamic_tensors(ref.graph)
    divergent, passed, compared = [], [], 0
    for op, _, name in aligned:
        if name not in got or name not in want:
            continue
        compared += 1
        acc = ErrorAccumulator(graph, name, thresholds.atol, thresholds.rtol, thresholds.stat)
        ref_value, value = np.asarray(want[name]), got[name]
        if value.shape != ref_value.shape and value.size == ref_value.size:
            value = value.reshape(ref_value.shape)  # OpenVINO keeps rank where ONNX has a scalar ([1] vs [])
        try:
            acc.add(ref_value, value.astype(ref_value.dtype, copy=False))
        except (TypeError, ValueError):
            continue
        r = acc.result()
        if r["passed"]:
            passed.append(op.get_friendly_name())
        elif name in dynamic:
            divergent.append({"node": op.get_friendly_name(), "op_type": op.get_type_name(), "output": name,
                              "max_abs": r["max_abs"], "max_rel": r["max_rel"], "initializers": [],
                              **({"error": r["error"]} if r.get("error") else {})})
    first = divergent[0] if divergent else None
    last_ok = None
    if first:
        names = [op.get_friendly_name() for op, _, _ in aligned]
        before = names[:names.index(first["node"])]
        last_ok = next((n for n in reversed(before) if n in passed), None)
    return {"engine": "openvino", "compared": compared, "aligned": round(len(aligned) / max(1, len(produced)), 3),
            "changed_initializers": {}, "first_divergent": first, "last_agreeing": last_ok,
            "divergent_nodes": len(divergent), "next_divergent": divergent[1:max_listed]}


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
