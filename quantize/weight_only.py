"""Weight-only quantization for decoder LLMs: the MatMul weights become 4- or 8-bit blocks, activations
stay float (decode steps are bound by reading the weights, not by arithmetic).

- ONNX Runtime: `MatMulNBits` (com.microsoft contrib op) through onnxruntime.quantization's
  MatMulNBitsQuantizer, symmetric blocks along the input dimension: 32 at 4 bits (ONNX Runtime GenAI's),
  wider at 8 bits (`nbits_block`). The artifact runs on ONNX Runtime only (the portable fp32 ONNX stays
  standard for OpenVINO and TensorRT).
- OpenVINO: NNCF `compress_weights` (data-free), INT4_SYM groups of 32 or INT8_ASYM per channel.

The LM head (the MatMul that makes the logits) stays at 8 bits under int4 by default, as NNCF does. The
embedding table follows the LM head's precision: on ONNX Runtime a `GatherBlockQuantized` (contrib op) that,
for tied embeddings, reads the LM head's own quantized weight — the table is stored once, as in the fp32
ONNX; on OpenVINO INT8 (NNCF's backup mode), INT4 with an int4 LM head.

MatMulNBits computes with int8 activations (`accuracy_level` 4, what ONNX Runtime GenAI's CPU builds use):
several times faster per decode step than dequantizing to fp32, its effect is in the accuracy report.
"""
from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

BLOCK_SIZE = 32
WIDE_BLOCKS = (128, 64, 32)  # 8-bit blocks, widest first (nbits_block)
ACCURACY_LEVEL = 4  # MatMulNBits: int8 activations (MLAS's fastest CPU path); 0 would compute in fp32


def _quiet():
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack


def nbits_block(bits: int, hidden: int) -> int:
    """Block size at `bits`: 4 bits in blocks of 32; 8 bits in the widest of 128, 64, 32 that divides the hidden
    size (the embedding table's width, which the tied LM head's blocks must tile for the table to be shared).
    MLAS's 8-bit kernel spends its time per block: on the SmolLM-135M-shaped benchmark model an int4 decode step
    with its 8-bit LM head (576 x 49152) in blocks of 64 is ~2 ms faster at 1 thread and ~0.8 ms at 2 than in
    blocks of 32 (on par with a 4-bit head), while an 8-bit block's rounding error is 1/16 of a 4-bit one's: that
    head's logits cosine goes 0.99997 -> 0.99996."""
    if bits != 8:
        return BLOCK_SIZE
    return next((b for b in WIDE_BLOCKS if hidden % b == 0), BLOCK_SIZE)


def weight_matmuls(model) -> list[tuple[str, list[int]]]:
    """(node name, weight shape) of every MatMul whose second input is a 2-D initializer, in graph order."""
    inits = {i.name: list(i.dims) for i in model.graph.initializer}
    return [(n.name, inits[n.input[1]]) for n in model.graph.node
            if n.op_type == "MatMul" and n.input[1] in inits and len(inits[n.input[1]]) == 2]


def lm_head(model) -> str | None:
    """The weight MatMul with the widest output (the vocabulary): the LM head."""
    found = weight_matmuls(model)
    return max(found, key=lambda nw: nw[1][1])[0] if found else None


def untie_lm_head(model) -> str | None:
    """Tied embeddings trace as MatMul(x, Transpose(E)) with E the embedding table, which the quantizer
    cannot take (its weight is not an initializer): give that MatMul E's transpose as a weight of its own.
    Returns E's name (None: nothing tied). Only the quantized artifact is untied; the sharing comes back
    in `quantize_embedding`."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    producers = {o: n for n in model.graph.node for o in n.output}
    for node in model.graph.node:
        t = producers.get(node.input[1]) if node.op_type == "MatMul" else None
        if t is None or t.op_type != "Transpose" or t.input[0] not in inits or len(inits[t.input[0]].dims) != 2:
            continue
        table = t.input[0]
        name = f"{table}.transposed"
        model.graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(inits[table]).T.copy(), name))
        node.input[1] = name
        if not any(t.output[0] in n.input for n in model.graph.node):
            model.graph.node.remove(t)
        return table
    return None


def _block_quantize(table, bits: int, block: int):
    """Symmetric blocks along each row as GatherBlockQuantized reads them (unsigned, zero point 2^(bits-1),
    4-bit values two to a byte, low nibble first): (data uint8 [rows, cols*bits/8], scales [rows, cols/block])."""
    import numpy as np

    rows, cols = table.shape
    blocks = table.reshape(rows, cols // block, block)
    half = 2 ** (bits - 1)
    scales = np.abs(blocks).max(-1) / (half - 1)
    scales[scales == 0] = 1.0
    q = (np.clip(np.rint(blocks / scales[..., None]), -half, half - 1) + half).astype(np.uint8).reshape(rows, cols)
    if bits == 4:
        q = q[:, 0::2] | (q[:, 1::2] << 4)
    return q, scales.astype(np.float32)


def quantize_embedding(model, bits: int, tied: str | None, block_size: int = BLOCK_SIZE) -> str | None:
    """The embedding Gather becomes GatherBlockQuantized at `bits`; a table tied to the LM head reads the
    head's MatMulNBits weight and scales (bit for bit the head's dequantized weights, stored once).
    Returns how the table is stored, None when left float (no 2-D float table, or rows not in whole blocks)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    gather = next((n for n in model.graph.node if n.op_type == "Gather" and n.input[0] in inits
                   and len(inits[n.input[0]].dims) == 2 and inits[n.input[0]].data_type == TensorProto.FLOAT
                   and not any(a.name == "axis" and a.i != 0 for a in n.attribute)), None)
    if gather is None or inits[gather.input[0]].dims[1] % block_size:
        return None
    table = gather.input[0]
    head = next((n for n in model.graph.node if n.op_type == "MatMulNBits"
                 and n.input[1].startswith(f"{table}.transposed")), None) if table == tied else None
    new_nodes = []
    if head is not None and next(a.i for a in head.attribute if a.name == "bits") == bits:
        rows = int(next(a.i for a in head.attribute if a.name == "N"))
        shape = numpy_helper.from_array(np.array([rows, -1], np.int64), f"{table}.rows_shape")
        model.graph.initializer.append(shape)
        data, scales = f"{table}.shared_q", f"{table}.shared_scales"
        new_nodes = [helper.make_node("Reshape", [head.input[1], shape.name], [data], name=f"{table}_data_view"),
                     helper.make_node("Reshape", [head.input[2], shape.name], [scales], name=f"{table}_scales_view")]
        stored = f"int{bits}, shared with the LM head"
    else:
        q, s = _block_quantize(numpy_helper.to_array(inits[table]), bits, block_size)
        data, scales = f"{table}.q{bits}", f"{table}.scales"
        model.graph.initializer.extend([numpy_helper.from_array(q, data), numpy_helper.from_array(s, scales)])
        stored = f"int{bits}"
    quantized = helper.make_node("GatherBlockQuantized", [data, gather.input[1], scales], list(gather.output),
                                 name=f"{gather.name}_Q{bits}", domain="com.microsoft", gather_axis=0,
                                 quantize_axis=1, block_size=block_size, bits=bits)
    at = list(model.graph.node).index(gather)
    model.graph.node.remove(gather)
    for i, n in enumerate([*new_nodes, quantized]):
        model.graph.node.insert(at + i, n)
    if not any(table in n.input for n in model.graph.node):
        model.graph.initializer.remove(inits[table])
    return stored


def quantize_nbits_onnx(src: Path, dest: Path, bits: int, exclude: tuple[str, ...] = (),
                        head_bits: int | None = 8) -> dict:
    """MatMulNBits at `bits` for every weight MatMul except `exclude` (kept float); the LM head at
    `head_bits` (None: like the others; 0: kept float); blocks by `nbits_block`. Returns the artifact details."""
    import onnx
    import onnxruntime
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)
    model = onnx.load(str(src))
    tied = untie_lm_head(model)
    shapes = dict(weight_matmuls(model))  # name -> [in, out]
    names = list(shapes)
    head = lm_head(model)
    head_bits = bits if head_bits is None else head_bits
    if head is not None and head_bits == 0:
        exclude = (*exclude, head)
    hidden = shapes[head][0] if head else BLOCK_SIZE  # the LM head's input width
    block_size, head_block = nbits_block(bits, hidden), nbits_block(head_bits, hidden)
    # (bits, block, nodes left as they are): the quantizer takes every MatMul with a constant weight but these; the
    # second pass finds only the LM head still a MatMul (besides the excluded ones)
    separate = head_bits != bits or head_block != block_size
    passes = [(bits, block_size, set(exclude) | ({head} if head and separate else set()))]
    if head is not None and head_bits != 0 and separate and head not in exclude:
        passes.append((head_bits, head_block, set(exclude)))
    for nbits, block, leave in passes:
        config = DefaultWeightOnlyQuantConfig(block_size=block, is_symmetric=True, bits=nbits,
                                              accuracy_level=ACCURACY_LEVEL)
        quantizer = MatMulNBitsQuantizer(model, bits=nbits, block_size=block, is_symmetric=True,
                                         nodes_to_exclude=sorted(leave), algo_config=config)
        with _quiet():
            quantizer.process()
        model = quantizer.model.model
    head_quantized = bool(head and head_bits and head not in exclude)
    embeddings = quantize_embedding(model, head_bits, tied, head_block) if head_quantized else None
    dest.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dest))
    quantized = sum(1 for n in model.graph.node if n.op_type == "MatMulNBits")
    return {"method": "weight-only", "tool": f"onnxruntime {onnxruntime.__version__} MatMulNBits",
            "weights": f"int{bits} symmetric, blocks of {block_size}",
            "lm_head": (f"int{head_bits}" if head_bits else "fp32") if head else None,
            "lm_head_block_size": head_block if head_quantized else None,
            "embeddings": embeddings or "fp32", "accuracy_level": ACCURACY_LEVEL, "quantized_matmuls": quantized, "candidates": len(names),
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
