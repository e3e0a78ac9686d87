"""Static INT8 for TensorRT: a QDQ ONNX the way TensorRT reads it (explicit quantization). The traps of
ONNX Runtime's quantizer are handled once, in int8_ort.py, and reused here."""
from __future__ import annotations

from pathlib import Path

from edgetool.runtime.errors import UsageError

from . import int8_ort as q


def quantize_qdq_for_tensorrt(src: Path, dst: Path, feeds: list, method: str = "minmax", keep_fp32: int = 0,
                              exclude: tuple[str, ...] = ()) -> dict:
    """Static QDQ the way TensorRT reads it: signed int8 with zero points 0 (TensorRT only does symmetric
    quantization) and float biases (it has no int32 DequantizeLinear). ONNX Runtime's own INT8
    (uint8 activations, int32 biases) would not parse."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    calibrate = q.calibrate_method(method)
    if not feeds:
        raise UsageError("TensorRT INT8 needs calibration data; none was recorded.")
    with q.preprocessed(src, "edgetool-trt-q-") as (prep, model):
        names = q.weight_nodes(model)
        excluded = sorted(set(q.keep_last(names, keep_fp32)) | set(exclude))
        inputs = [i.name for i in model.graph.input]
        extra = {"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False,
                 "DefaultTensorType": onnx.TensorProto.FLOAT, "MatMulConstBOnly": True,
                 "QDQOpTypePerChannelSupportToAxis": {"MatMul": 1}}
        if method == "percentile":
            extra["CalibPercentile"] = 99.999
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
        with q._ragged_histograms():
            quantize_static(str(prep), str(dst), q._Reader(feeds, inputs), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True,
                            op_types_to_quantize=list(q.WEIGHT_OPS),
                            nodes_to_exclude=sorted(set(excluded) | set(q.activation_matmuls(model))),
                            calibrate_method=calibrate, extra_options=extra)
    return {"method": "static", "format": "QDQ", "tool": "onnxruntime quantize_static (symmetric, for TensorRT)",
            "calibration_method": method, "activations": "int8 symmetric", "weights": "int8 per-channel symmetric",
            "calibration_calls": len(feeds), "candidates": len(names), "kept_fp32_nodes": excluded}
