"""torch -> ONNX, then the graph's real inputs/outputs read back from the file.

The TorchScript exporter silently drops unused inputs, so the bundle's declared I/O must come from
the ONNX graph itself, never from what we asked for.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from edgetool.runtime.bundle import GraphSpec, TensorSpec
from edgetool.runtime.errors import UnsupportedError

from .graphs import GraphExport

_ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 9: "bool",
                10: "float16", 11: "float64", 16: "bfloat16"}


def export_graph(g: GraphExport, path: Path, opset: int = 17, dynamo: bool = False) -> GraphSpec:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                g.module, tuple(g.inputs.values()), str(path), input_names=list(g.inputs), output_names=g.outputs,
                dynamic_axes=g.dynamic_axes, opset_version=opset, do_constant_folding=True, dynamo=dynamo,
                **({"external_data": False} if dynamo else {}),
            )
        except Exception as e:  # the exporters raise many types; the user needs the op and the fix
            raise UnsupportedError(
                f"torch.onnx.export failed for graph '{g.name}' ({type(e).__name__}: {str(e).splitlines()[0][:300]}). "
                f"Try another --opset (now {opset}) or {'--no-dynamo' if dynamo else '--dynamo'}."
            ) from e
    return read_graph_spec(path, g.name)


def read_graph_spec(path: Path, name: str) -> GraphSpec:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    onnx.checker.check_model(model)
    inits = {i.name for i in model.graph.initializer}

    def spec(v) -> TensorSpec:
        t = v.type.tensor_type
        dims = tuple(d.dim_param if d.dim_param else (d.dim_value if d.HasField("dim_value") else "?")
                     for d in t.shape.dim)
        return TensorSpec(v.name, _ONNX_DTYPES.get(t.elem_type, str(t.elem_type)), dims)

    return GraphSpec(name, tuple(spec(v) for v in model.graph.input if v.name not in inits),
                     tuple(spec(v) for v in model.graph.output))
