"""Options of `edgetool export`, shared by the CLI and the Python API."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ExportOptions:
    task: str
    model: Path | None = None  # a local Hugging Face checkpoint directory; None = built-in reference
    reference: str | None = None  # name of a built-in reference model (default: the task's first)
    target: str = "onnx"  # onnx | openvino | trt
    precision: str = "fp32"  # fp32 | fp16 | int8
    out: Path | None = None  # default: bundles/<task>-<target>-<precision>
    opset: int = 17
    # torch.onnx exporter for graphs that do not insist on one: True = dynamo, False = TorchScript (deprecated
    # by torch), None = the family's choice (Adapter.dynamo)
    dynamo: bool | None = None
    force: bool = False  # replace an existing bundle
    check_parity: bool = True  # fail (and write nothing) when the export does not match PyTorch
    calibration: Path | None = None
    calibration_size: int | None = None
    method: str | None = None  # INT8 on ONNX Runtime: dynamic | static (default: static iff calibration is given)
    calibration_method: str | None = None  # static INT8 on ONNX Runtime: minmax (default) | entropy | percentile
    lm_head: str | None = None  # --precision int4: the LM head's weights, int8 (default) | int4 | fp32
    kv_cache: str | None = None  # weight-only LLMs on ONNX Runtime: the fused decoder's KV cache, fp32 (default) | int8
    max_metric_drop: float | None = None  # quantized metric vs fp32 may drop at most this, else the export fails
    fallback: bool = False  # ... or keeps the most sensitive weight nodes in higher precision until it holds
    static_shapes: dict[str, int] | None = None  # OpenVINO: {"batch": 1, "sequence": 128}
    quiet: bool = False
    extra: dict = field(default_factory=dict)  # task-specific switches (e.g. nms_in_graph)
    # TensorRT: optimization profiles ('input_ids=1x8,1x128,8x512;...' or {input: (min, opt, max)}; default:
    # the task's typical dims) and the builder's workspace limit in MiB (default: TensorRT's).
    shapes: str | dict | None = None
    workspace_mb: int | None = None
    sign_key: Path | None = None  # sign the bundle (edgetool.sig) with this private key when written

    def default_out(self, task_name: str) -> Path:
        return Path("bundles") / f"{task_name}-{self.target}-{self.precision}"
