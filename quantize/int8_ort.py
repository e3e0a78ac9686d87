"""INT8 for ONNX Runtime: dynamic (weights int8, activations quantized per call — transformer
encoders on CPU, no calibration) and static QDQ (activation ranges from calibration data: MinMax,
Entropy or Percentile).

The known traps are handled here so users never meet them:
- `quantize_dynamic` on dynamo exports fails on stale `graph.value_info`: it is cleared first;
- `quant_pre_process` (symbolic shape inference) fails on these graphs: `skip_symbolic_shape=True`;
- quantizing a graph the ORT optimizer fused (pre-processing does that) needs
  `extra_options["DefaultTensorType"] = FLOAT` for tensors whose type it cannot infer.
"""
from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
# Weight-bearing ops: quantizing them is where the speed and size come from. Attention's activation x
# activation MatMuls stay float (MatMulConstBOnly): quantizing them costs accuracy for little speed.
WEIGHT_OPS = ("MatMul", "Gemm", "Conv", "ConvTranspose", "Attention")


def _onnx():
    import onnx

    return onnx


def _clean(src: Path, dst: Path) -> None:
    onnx = _onnx()
    model = onnx.load(str(src))
    del model.graph.value_info[:]
    onnx.save(model, str(dst))


def weight_nodes(model, gathers: bool = False) -> list[str]:
    """Names of weight-bearing nodes (a constant initializer among their inputs), in graph order —
    the candidates a fallback keeps in higher precision, last layers first. `gathers`: also the
    embedding lookups (Gather from a float table), which dynamic INT8 quantizes too — without them a
    fallback that kept every layer could still not undo the embeddings' error."""
    inits = {i.name: i for i in model.graph.initializer}
    consts = {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    out = []
    for n in model.graph.node:
        if n.op_type in WEIGHT_OPS and len(n.input) > 1 and (n.input[1] in inits or n.input[1] in consts):
            out.append(n.name)
        elif gathers and n.op_type == "Gather" and n.input[0] in inits and \
                inits[n.input[0]].data_type == _onnx().TensorProto.FLOAT and len(inits[n.input[0]].dims) == 2:
            out.append(n.name)
    return out


def activation_matmuls(model) -> list[str]:
    """MatMuls of two activations (attention scores, attention x values): the QDQ quantizer ignores
    MatMulConstBOnly, so they are excluded by name. Quantizing softmax outputs to 8 bits costs accuracy."""
    weights = set(weight_nodes(model))
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.name not in weights]


def keep_last(names: list[str], keep: int) -> list[str]:
    return names[len(names) - min(keep, len(names)):] if keep > 0 else []


@contextmanager
def _ragged_histograms():
    """ORT's histogram collector (Entropy, Percentile) np.asarray()s each tensor's list of recorded
    outputs, which fails when calls differ in shape (texts of different lengths). Histograms only see
    the flattened values, so flattening first gives the same result."""
    from onnxruntime.quantization.calibrate import HistogramCollector

    original = HistogramCollector.collect

    def collect(self, name_to_arr):
        flat = {k: np.concatenate([np.asarray(a).ravel() for a in v]) if isinstance(v, list) and v else v
                for k, v in name_to_arr.items()}
        return original(self, flat)

    HistogramCollector.collect = collect
    try:
        yield
    finally:
        HistogramCollector.collect = original


@contextmanager
def _quiet():
    """ORT's quantizer logs advice on the root logger and prints progress; the accuracy report says what matters."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


def quantize_dynamic_onnx(src: Path, dst: Path, keep_fp32: int = 0, exclude: tuple[str, ...] = (),
                          per_channel: bool = True) -> dict:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    onnx = _onnx()
    with _quiet(), tempfile.TemporaryDirectory(prefix="edgetool-q-") as tmp:
        clean = Path(tmp) / "clean.onnx"
        _clean(src, clean)
        names = weight_nodes(onnx.load(str(clean), load_external_data=False), gathers=True)
        excluded = sorted(set(keep_last(names, keep_fp32)) | set(exclude))
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
        # per-channel weight scales: real all-MiniLM-L6-v2 sentence cosine worst 0.925 per-tensor, 0.988 per-channel
        quantize_dynamic(str(clean), str(dst), weight_type=QuantType.QInt8, per_channel=per_channel,
                         op_types_to_quantize=[op for op in WEIGHT_OPS if op != "Conv"] + ["Gather"],
                         nodes_to_exclude=excluded,
                         extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT})
    return {"method": "dynamic", "weight_type": "int8 per-channel" if per_channel else "int8",
            "candidates": len(names), "kept_fp32_nodes": excluded}


class _Reader:
    """onnxruntime CalibrationDataReader over recorded feeds (only the graph's own inputs)."""

    def __init__(self, feeds: list[dict[str, np.ndarray]], names: list[str]):
        self._it = iter([{k: f[k] for k in names} for f in feeds])

    def get_next(self):
        return next(self._it, None)

    def rewind(self):  # some ORT versions call it
        pass


def calibrate_method(method: str):
    """ONNX Runtime's CalibrationMethod for a --calibration-method name; a one-line error for an unknown one."""
    from onnxruntime.quantization import CalibrationMethod

    from edgetool.runtime.errors import UsageError

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    if method not in methods:
        raise UsageError(f"Unknown calibration method '{method}'; expected one of {', '.join(methods)}.")
    return methods[method]


@contextmanager
def preprocessed(src: Path, prefix: str):
    """(path, ModelProto) of `src` without stale value_info, through ORT's quant_pre_process, in a temporary
    folder that lives as long as the block; ORT's quantizer chatter is silenced meanwhile."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with _quiet(), tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        clean, prep = Path(tmp) / "clean.onnx", Path(tmp) / "prep.onnx"
        _clean(src, clean)
        quant_pre_process(str(clean), str(prep), skip_symbolic_shape=True)
        yield prep, _onnx().load(str(prep), load_external_data=False)


def quantize_static_onnx(src: Path, dst: Path, feeds: list[dict[str, np.ndarray]], method: str = "minmax",
                         keep_fp32: int = 0, exclude: tuple[str, ...] = (), per_channel: bool = True) -> dict:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    from edgetool.runtime.errors import UsageError

    calibrate = calibrate_method(method)
    if not feeds:
        raise UsageError("INT8 static quantization needs calibration data; none was recorded.")
    onnx = _onnx()
    with preprocessed(src, "edgetool-q-") as (prep, model):
        names = weight_nodes(model)
        excluded = sorted(set(keep_last(names, keep_fp32)) | set(exclude))
        inputs = [i.name for i in model.graph.input]
        skip = sorted(set(excluded) | set(activation_matmuls(model)))
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
        # Not CalibMaxIntermediateOutputs: in onnxruntime 1.31 MinMax drops each full chunk uncomputed.
        extra = {"DefaultTensorType": onnx.TensorProto.FLOAT, "MatMulConstBOnly": True,
                 "QDQOpTypePerChannelSupportToAxis": {"MatMul": 1}}
        if method == "percentile":
            extra["CalibPercentile"] = 99.999
        with _ragged_histograms():
            quantize_static(str(prep), str(dst), _Reader(feeds, inputs), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=per_channel,
                            op_types_to_quantize=list(WEIGHT_OPS), nodes_to_exclude=skip,
                            calibrate_method=calibrate, extra_options=extra)
    return {"method": "static", "format": "QDQ", "calibration_method": method, "activations": "uint8",
            "weights": "int8 per-channel" if per_channel else "int8", "calibration_calls": len(feeds),
            "candidates": len(names), "kept_fp32_nodes": excluded}
