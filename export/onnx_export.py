"""torch -> ONNX, then the graph's real inputs/outputs read back from the file.

The TorchScript exporter silently drops unused inputs, so the bundle's declared I/O must come from
the ONNX graph itself, never from what we asked for.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from edgetool.runtime.bundle import GraphSpec, TensorSpec
from edgetool.runtime.errors import UnsupportedError

from .graph_forms import rewrite
from .graphs import GraphExport
from .log import root_cause

_ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 9: "bool",
                10: "float16", 11: "float64", 16: "bfloat16"}


# The dynamo exporter emits opset-18 ops (e.g. Split with num_outputs) whatever it is asked for.
DYNAMO_MIN_OPSET = 18


def export_graph(g: GraphExport, path: Path, opset: int = 17, dynamo: bool = True) -> GraphSpec:
    """Trace one graph. A graph may insist on an exporter (g.dynamo): decoders with a KV cache need
    dynamo, because transformers' vmap-built causal masks do not trace with TorchScript."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    if g.build is not None:
        g.build(path)  # ONNX Runtime's ops (some in the default domain) that the onnx checker does not know
        return read_graph_spec(path, g.name, check=False)
    dynamo = g.dynamo if g.dynamo is not None else dynamo
    args = tuple(g.inputs.values())
    if dynamo:
        from torch.export import Dim

        opset = max(opset, DYNAMO_MIN_OPSET)
        # forward(*args): one positional parameter holding every input
        shapes = (tuple({ax: Dim.AUTO for ax in g.dynamic_axes.get(n, {})} for n in g.inputs),)
        kwargs = {"dynamic_shapes": shapes, "external_data": False}
    else:
        kwargs = {"dynamic_axes": g.dynamic_axes, "do_constant_folding": True}
    with warnings.catch_warnings(), g.patched():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(g.module, args, str(path), input_names=list(g.inputs), output_names=g.outputs,
                              opset_version=opset, dynamo=dynamo, **kwargs)
        except Exception as e:  # the exporters raise many types; the user needs the op and the fix
            raise UnsupportedError(
                f"torch.onnx.export failed for graph '{g.name}' ({root_cause(e)}). "
                f"Try another --opset (now {opset}) or {'--no-dynamo' if dynamo else '--dynamo'}."
            ) from e
    finish_graph(path, g.dynamic_axes if dynamo else None)
    return read_graph_spec(path, g.name)


def finish_graph(path: Path, axes: dict[str, dict[int, str]] | None) -> None:
    """One load and save of the traced file: dims named (dynamo: `axes`), fusable forms (graph_forms)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    renamed = axes is not None and name_dynamic_dims(model, axes)
    if rewrite(model) or renamed:
        onnx.save(model, str(path))


def name_dynamic_dims(model, axes: dict[str, dict[int, str]]) -> bool:
    """The dynamo exporter names dynamic dims s0, s1, …: give them the names asked for (batch, sequence, …),
    as TorchScript does, wherever the symbol appears (--static-shapes and profiles name dims that way).
    A symbol asked under two names keeps its own. Returns whether any dim was renamed."""
    wanted: dict[str, set[str]] = {}
    for v in list(model.graph.input) + list(model.graph.output):
        for ax, name in axes.get(v.name, {}).items():
            dims = v.type.tensor_type.shape.dim
            if ax < len(dims) and dims[ax].dim_param:
                wanted.setdefault(dims[ax].dim_param, set()).add(name)
    rename = {old: next(iter(new)) for old, new in wanted.items() if len(new) == 1 and old != next(iter(new))}
    for v in list(model.graph.input) + list(model.graph.output) + list(model.graph.value_info):
        for d in v.type.tensor_type.shape.dim:
            if d.dim_param in rename:
                d.dim_param = rename[d.dim_param]
    return bool(rename)


def read_graph_spec(path: Path, name: str, check: bool = True) -> GraphSpec:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    if check:
        onnx.checker.check_model(model)
    inits = {i.name for i in model.graph.initializer}

    def spec(v) -> TensorSpec:
        t = v.type.tensor_type
        dims = tuple(d.dim_param if d.dim_param else (d.dim_value if d.HasField("dim_value") else "?")
                     for d in t.shape.dim)
        return TensorSpec(v.name, _ONNX_DTYPES.get(t.elem_type, str(t.elem_type)), dims)

    return GraphSpec(name, tuple(spec(v) for v in model.graph.input if v.name not in inits),
                     tuple(spec(v) for v in model.graph.output))
