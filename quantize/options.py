"""Options of `edgetool quantize`, shared by the CLI and the Python API."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class QuantizeOptions:
    bundle: Path
    precision: str  # fp16 | int8 (fp32 builds a plain artifact for another target)
    target: str | None = None  # onnx | openvino | ...; default: the bundle's default target
    calibration: Path | None = None  # text file (one sample per line) or folder of images / WAVs
    calibration_size: int | None = None  # at most N calibration samples (default 128)
    method: str | None = None  # INT8 on ONNX Runtime: dynamic | static (default: dynamic, static with --calibration)
    calibration_method: str | None = None  # static INT8 on ONNX Runtime: minmax (default) | entropy | percentile
    lm_head: str | None = None  # --precision int4: the LM head's weights, int8 (default) | int4 | fp32
    kv_cache: str | None = None  # weight-only LLMs on ONNX Runtime: the fused decoder's KV cache, fp32 (default) | int8
    max_metric_drop: float | None = None  # fail (nothing written) when the task metric drops more than this
    fallback: bool = False  # with max_metric_drop: keep the last weight nodes in higher precision until it holds
    static_shapes: dict[str, int] | None = None  # OpenVINO: e.g. {"batch": 1, "sequence": 128}
    held_out: int = 16  # extra evaluation inputs (beyond the golden samples) for the accuracy report
    check_parity: bool = True  # also hold the new artifact to the registry's thresholds vs the golden outputs
    quiet: bool = False  # no warnings on stderr (they are recorded in the bundle either way)
    show_table: bool = False  # print the accuracy table on stderr (the CLI prints it on stdout itself)
    sign_key: Path | None = None  # sign the bundle (edgetool.sig) with this private key when written
