"""INT8 for OpenVINO with NNCF post-training quantization (calibration data from the bundle's pipeline).

Transformer graphs (attention: a Softmax fed by MatMuls) get `model_type=TRANSFORMER` (attention-aware
quantizer placement; without it a tiny GPT-2 fell to cosine 0.57, T5 to 0.03), with SmoothQuant off
and attention's activation x activation MatMuls left in float (both measured below); other graphs
(CNNs) NNCF's defaults.
"""
from __future__ import annotations

import contextlib
import io
import logging

import numpy as np

WEIGHT_TYPES = ("MatMul", "Convolution", "GroupConvolution", "ConvolutionBackpropData")


def is_transformer(model) -> bool:
    types = {op.get_type_name() for op in model.get_ordered_ops()}
    return "MatMul" in types and bool(types & {"Softmax", "ScaledDotProductAttention"})


def _dynamic_picture(model) -> bool:
    """An input of rank >= 3 (pictures, spectrograms) with a dynamic dim past the batch."""
    return any(p.rank.is_static and p.rank.get_length() >= 3 and any(d.is_dynamic for d in list(p)[1:])
               for p in (i.get_partial_shape() for i in model.inputs))


def _is_const(output) -> bool:
    node = output.get_node()
    while node.get_type_name() in ("Convert", "Reshape", "Transpose", "Multiply", "Subtract", "FakeQuantize"):
        if node.get_type_name() == "FakeQuantize":
            return True
        node = node.input_value(0).get_node()
    return node.get_type_name() == "Constant"


def weight_nodes(model) -> list[str]:
    """Friendly names of weight-bearing ops in topological order (ONNX node names survive conversion):
    the candidates --fallback keeps in float, last layers first."""
    return [op.get_friendly_name() for op in model.get_ordered_ops()
            if op.get_type_name() in WEIGHT_TYPES and op.get_input_size() > 1 and _is_const(op.input_value(1))]


def activation_matmuls(model) -> list[str]:
    """MatMuls of two activations (attention scores, attention x values)."""
    return [op.get_friendly_name() for op in model.get_ordered_ops()
            if op.get_type_name() == "MatMul" and not _is_const(op.input_value(1))]


def grouped_convolutions(model) -> list[str]:
    """Grouped convolutions inside a transformer (wav2vec2-style positional conv embeddings). Quantized in
    transformer mode they wreck the output: a tiny wav2vec2 classifier's logits cosine to fp32 fell to -0.11
    (0.9986 with them kept float; default CNN mode 0.9992)."""
    return [op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() == "GroupConvolution"]


def quantize_ov(model, feeds: list[dict[str, np.ndarray]], keep_fp32: int = 0, exclude: tuple[str, ...] = ()):
    """(quantized model, details). `keep_fp32` last weight ops (and `exclude`) stay in float."""
    import nncf

    nncf.set_log_level(logging.ERROR)
    names = weight_nodes(model)
    kept = sorted(set(names[len(names) - min(keep_fp32, len(names)):] if keep_fp32 > 0 else []) | set(exclude))
    transformer = is_transformer(model)
    # Attention's activation x activation MatMuls stay float, as on ONNX Runtime: quantizing them took a tiny
    # GPT-2's worst output cosine from 0.98 to 0.91 here, for little speed at these sequence lengths.
    ignored = sorted(set(kept) | set(activation_matmuls(model) if transformer else [])
                     | set(grouped_convolutions(model) if transformer else []))
    inputs = [i.get_any_name() for i in model.inputs]
    data = nncf.Dataset([{k: f[k] for k in inputs if k in f} for f in feeds])
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, QuantizationParameters

    kwargs = {}
    if transformer:
        # SmoothQuant (on by default for transformers) cost accuracy on every encoder measured here:
        # real all-MiniLM-L6-v2 worst token-embedding cosine 0.80 with it, 0.967 without; tiny BERT/T5 alike.
        kwargs = {"model_type": nncf.ModelType.TRANSFORMER, "advanced_parameters": AdvancedQuantizationParameters(
            smooth_quant_alphas=nncf.AdvancedSmoothQuantParameters(matmul=-1))}
    if _dynamic_picture(model):
        # Pictures of any size (GLPN/DPT keep the aspect): NNCF took the token axis of a Mix-FFN MatMul output
        # for channels, so its ranges had the calibration picture's token count and other sizes failed to run.
        advanced = kwargs.get("advanced_parameters") or AdvancedQuantizationParameters()
        advanced.activations_quantization_params = QuantizationParameters(per_channel=False)
        kwargs["advanced_parameters"] = advanced
    if ignored:
        kwargs["ignored_scope"] = nncf.IgnoredScope(names=ignored, validate=False)
    # NNCF draws rich progress bars on stdout/stderr; the export's own step output is enough.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        quantized = nncf.quantize(model, data, subset_size=len(feeds), **kwargs)
    return quantized, {"method": "static", "tool": f"nncf {nncf.__version__}", "model_type":
                       "transformer" if transformer else "default", "smooth_quant": False, "calibration_calls": len(feeds),
                       "candidates": len(names), "kept_fp32_nodes": kept}
