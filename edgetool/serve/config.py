"""Triton `config.pbtxt` from a bundle's tensor specs: one dataclass per model, rendered as protobuf text.

Written by hand rather than through Triton's protobuf classes so that writing a repository needs no
Triton package; tests/serve/test_repository.py parses every generated file with Triton's own
`model_config_pb2` (tritonclient) to prove the text is what Triton reads.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from edgetool.runtime.errors import UsageError

# numpy dtype name (TensorSpec.dtype) -> Triton data type
TRITON_DTYPES = {
    "bool": "TYPE_BOOL", "uint8": "TYPE_UINT8", "uint16": "TYPE_UINT16", "uint32": "TYPE_UINT32",
    "uint64": "TYPE_UINT64", "int8": "TYPE_INT8", "int16": "TYPE_INT16", "int32": "TYPE_INT32",
    "int64": "TYPE_INT64", "float16": "TYPE_FP16", "float32": "TYPE_FP32", "float64": "TYPE_FP64",
    "bytes": "TYPE_STRING",  # Triton's BYTES tensors
}


def triton_dtype(dtype: str) -> str:
    try:
        return TRITON_DTYPES[dtype]
    except KeyError:
        raise UsageError(f"Tensor dtype '{dtype}' has no Triton data type; Triton serves {', '.join(TRITON_DTYPES)}.") \
            from None


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: str  # numpy dtype name, or "bytes"
    dims: tuple[int, ...]  # without the batch dim when the model batches; -1 where dynamic
    optional: bool = False


@dataclass(frozen=True)
class Warmup:
    """One warm-up request: input name -> (dtype, dims without batch, file under the model's warmup/)."""

    name: str
    batch_size: int
    inputs: dict[str, tuple[str, tuple[int, ...], str]]


@dataclass
class ModelConfig:
    name: str
    backend: str  # python | onnxruntime | openvino | tensorrt (platform tensorrt_plan)
    inputs: list[Tensor]
    outputs: list[Tensor]
    max_batch_size: int = 0
    dynamic_batching: bool = False
    queue_delay_us: int = 0
    instances: int = 1
    kind: str = "KIND_CPU"
    default_model_filename: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    warmup: list[Warmup] = field(default_factory=list)
    decoupled: bool = False  # any number of responses per request (token streaming)

    def render(self) -> str:
        q = json.dumps  # protobuf text strings: JSON's escaping is a subset it reads
        lines = [f"name: {q(self.name)}"]
        if self.backend == "tensorrt":
            lines.append('platform: "tensorrt_plan"')
        else:
            lines.append(f"backend: {q(self.backend)}")
        lines.append(f"max_batch_size: {self.max_batch_size}")
        if self.default_model_filename:
            lines.append(f"default_model_filename: {q(self.default_model_filename)}")
        for key, tensors in (("input", self.inputs), ("output", self.outputs)):
            lines.append(f"{key} [")
            lines.append(",\n".join(_tensor(t, key == "input") for t in tensors))
            lines.append("]")
        lines.append(f"instance_group [ {{ count: {self.instances} kind: {self.kind} }} ]")
        if self.decoupled:
            lines.append("model_transaction_policy { decoupled: true }")
        if self.dynamic_batching and self.max_batch_size > 0:
            lines.append(f"dynamic_batching {{ max_queue_delay_microseconds: {self.queue_delay_us} }}")
        for k, v in self.parameters.items():
            lines.append(f"parameters {{ key: {q(k)} value {{ string_value: {q(str(v))} }} }}")
        if self.warmup:
            lines.append("model_warmup [")
            lines.append(",\n".join(_warmup(w) for w in self.warmup))
            lines.append("]")
        return "\n".join(lines) + "\n"


def _dims(dims) -> str:
    return "[ " + ", ".join(str(d) for d in dims) + " ]"


def _tensor(t: Tensor, is_input: bool) -> str:
    opt = " optional: true" if is_input and t.optional else ""
    return f"  {{ name: {json.dumps(t.name)} data_type: {triton_dtype(t.dtype)} dims: {_dims(t.dims)}{opt} }}"


def _warmup(w: Warmup) -> str:
    inputs = " ".join(
        f"inputs {{ key: {json.dumps(n)} value {{ data_type: {triton_dtype(dt)} dims: {_dims(dims)} "
        f"input_data_file: {json.dumps(f)} }} }}" for n, (dt, dims, f) in w.inputs.items())
    return f"  {{ name: {json.dumps(w.name)} batch_size: {w.batch_size} {inputs} }}"


def graph_dims(shape: tuple) -> tuple[bool, tuple[int, ...]]:
    """(batches, dims): a bundle shape whose first dim is dynamic batches in Triton (the batch dim is then
    implicit); every other named (dynamic) dim becomes -1."""
    batches = bool(shape) and isinstance(shape[0], str)
    rest = shape[1:] if batches else shape
    return batches, tuple(-1 if isinstance(d, str) or d is None or (isinstance(d, int) and d < 0) else int(d)
                          for d in rest)
