"""Weight-only quantization for decoder LLMs: the MatMul weights become 4- or 8-bit blocks, activations
stay float (decode steps are bound by reading the weights, not by arithmetic).

- ONNX Runtime: `MatMulNBits` (com.microsoft contrib op) through onnxruntime.quantization's
  MatMulNBitsQuantizer, symmetric blocks of 32 along the input dimension. The artifact runs on ONNX
  Runtime only (the portable fp32 ONNX stays standard for OpenVINO and TensorRT).
- OpenVINO: NNCF `compress_weights` (data-free), INT4_SYM groups of 32 or INT8_ASYM per channel.

The LM head (the MatMul that makes the logits) stays at 8 bits under int4 by default, as NNCF does; the
embedding table (a Gather) stays float on ONNX Runtime and INT8 on OpenVINO (NNCF's backup mode).
"""
from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

BLOCK_SIZE = 32


def _quiet():
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack


def weight_matmuls(model) -> list[tuple[str, list[int]]]:
    """(node name, weight shape) of every MatMul whose second input is a 2-D initializer, in graph order."""
    inits = {i.name: list(i.dims) for i in model.graph.initializer}
    return [(n.name, inits[n.input[1]]) for n in model.graph.node
            if n.op_type == "MatMul" and n.input[1] in inits and len(inits[n.input[1]]) == 2]


def lm_head(model) -> str | None:
    """The weight MatMul with the widest output (the vocabulary): the LM head."""
    found = weight_matmuls(model)
    return max(found, key=lambda nw: nw[1][1])[0] if found else None


def quantize_nbits_onnx(src: Path, dest: Path, bits: int, exclude: tuple[str, ...] = (),
                        head_bits: int | None = 8, block_size: int = BLOCK_SIZE) -> dict:
    """MatMulNBits at `bits` for every weight MatMul except `exclude` (kept float); the LM head at
    `head_bits` (None: like the others; 0: kept float). Returns the artifact details."""
    import onnx
    import onnxruntime
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)
    model = onnx.load(str(src))
    names = [n for n, _ in weight_matmuls(model)]
    head = lm_head(model)
    head_bits = bits if head_bits is None else head_bits
    if head is not None and head_bits == 0:
        exclude = (*exclude, head)
    # (bits, nodes left as they are): the quantizer takes every MatMul with a constant weight but these; the
    # second pass finds only the LM head still a MatMul (besides the excluded ones)
    passes = [(bits, set(exclude) | ({head} if head and head_bits != bits else set()))]
    if head is not None and head_bits not in (bits, 0) and head not in exclude:
        passes.append((head_bits, set(exclude)))
    for nbits, leave in passes:
        config = DefaultWeightOnlyQuantConfig(block_size=block_size, is_symmetric=True, bits=nbits)
        quantizer = MatMulNBitsQuantizer(model, bits=nbits, block_size=block_size, is_symmetric=True,
                                         nodes_to_exclude=sorted(leave), algo_config=config)
        with _quiet():
            quantizer.process()
        model = quantizer.model.model
    dest.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dest))
    quantized = sum(1 for n in model.graph.node if n.op_type == "MatMulNBits")
    return {"method": "weight-only", "tool": f"onnxruntime {onnxruntime.__version__} MatMulNBits",
            "weights": f"int{bits} symmetric, blocks of {block_size}",
            "lm_head": (f"int{head_bits}" if head_bits else "fp32") if head else None,
            "embeddings": "fp32", "quantized_matmuls": quantized, "candidates": len(names),
            "kept_fp32_nodes": sorted(set(exclude) & set(names)),
            # a contrib op: OpenVINO and TensorRT read the standard fp32 ONNX instead
            "backends": ["onnxruntime"]}


def compress_weights_ov(model, bits: int, exclude: tuple[str, ...] = (), group_size: int = BLOCK_SIZE,
                        lm_head: str = "int8"):
    """(compressed model, details): NNCF data-free weight compression, INT4_SYM groups (embeddings INT8, NNCF's
    backup mode; the LM head `lm_head`: int8, int4 or fp32) or INT8_ASYM per output channel."""
    import nncf

    nncf.set_log_level(logging.ERROR)
    kwargs: dict = {}
    if bits == 4:
        kwargs = dict(mode=nncf.CompressWeightsMode.INT4_SYM, group_size=group_size, ratio=1.0,
                      backup_mode=nncf.BackupMode.INT8_ASYM, all_layers=lm_head == "int4")
        if lm_head == "fp32":
            exclude = (*exclude, *_ov_lm_head(model))
    else:
        kwargs = dict(mode=nncf.CompressWeightsMode.INT8_ASYM)
    if exclude:
        kwargs["ignored_scope"] = nncf.IgnoredScope(names=list(exclude), validate=False)
    with _quiet():
        compressed = nncf.compress_weights(model, **kwargs)
    details = {"method": "weight-only", "tool": f"nncf {nncf.__version__} compress_weights",
               "weights": f"int4 symmetric, groups of {group_size}" if bits == 4 else "int8 asymmetric per channel",
               "lm_head": lm_head if bits == 4 else "int8",
               # NNCF's all_layers (what an int4 LM head takes) makes the embeddings int4 as well
               "embeddings": "int4" if kwargs.get("all_layers") else "int8", "kept_fp32_nodes": sorted(exclude)}
    return compressed, details


def _ov_lm_head(model) -> list[str]:
    """The OpenVINO MatMul with a constant weight and the widest output: the LM head."""
    from .openvino_nncf import weight_nodes

    names = set(weight_nodes(model))
    heads = [op for op in model.get_ordered_ops() if op.get_friendly_name() in names and op.get_type_name() == "MatMul"]
    if not heads:
        return []
    widest = max(heads, key=lambda op: op.get_output_partial_shape(0)[-1].get_length()
                 if op.get_output_partial_shape(0)[-1].is_static else 0)
    return [widest.get_friendly_name()]
