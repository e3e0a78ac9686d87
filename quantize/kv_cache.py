"""INT8 KV cache for ONNX Runtime's fused decoder (`--kv-cache int8`): the graph's past/present keys and values
are stored as int8 with one static scale per (kv head, channel), which GroupQueryAttention quantizes into and
dequantizes from itself (`k_quant_type`/`v_quant_type` PER_CHANNEL, `kv_cache_bit_width` 8; values beyond the
range saturate at ±127).

The cache then takes a quarter of the memory (what bounds the context on a Jetson) and is a quarter of the bytes
read per step. Measured on the SmolLM-135M-shaped benchmark model (30 layers of GroupQueryAttention alone, past
16 -> 512): 0.21 -> 3.21 ms with the fp32 cache, 0.20 -> 2.50 ms int8 at 1 thread; 0.36 -> 2.79 and 0.40 -> 2.18
ms at 2 — the per-position cost that bounds ms/token at 512 against 16. In whole int4 decode steps (paired runs,
benchmarks/README.md) the int8 cache's step at 512 was 0.97-0.99x the fp32 cache's: its gain is the memory.

Scales come from the keys and values the fp32 graph itself caches on the calibration data (recorded through the
bundle's pipeline, as static INT8's are). The cached keys are already rotated (RoPE), so a later position's
key is the same pair of channels (j, j + head_dim/2) turned by another angle: each pair's scale is the largest
radius sqrt(k_j^2 + k_{j+h/2}^2) seen, which bounds both channels at every position. Values get each channel's
largest magnitude. Only the ONNX Runtime artifact changes; the portable graph (OpenVINO, TensorRT) keeps its
float cache. The accuracy report measures the effect step by step through the cache (accuracy_report.py).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

KV_CACHE_CHOICES = ("fp32", "int8")
LEVELS = 127.0  # symmetric int8
TINY = 1e-8  # a channel that was always zero still needs a positive scale


def check_request(kv_cache: str | None, task: str, target: str, precision: str, method: str | None = None) -> str:
    """The --kv-cache asked for, or a UsageError: int8 only for decoder LLMs quantized weight-only for ONNX Runtime."""
    from edgetool.runtime.errors import UsageError

    kv_cache = kv_cache or "fp32"
    if kv_cache not in KV_CACHE_CHOICES:
        raise UsageError(f"--kv-cache must be one of {', '.join(KV_CACHE_CHOICES)}, got '{kv_cache}'.")
    weight_only = precision == "int4" or (precision == "int8" and method in (None, "weight-only"))
    if kv_cache == "int8" and not (task == "text-generation" and target == "onnx" and weight_only):
        raise UsageError(f"--kv-cache int8 applies to decoder LLMs (text-generation) quantized weight-only for ONNX "
                         f"Runtime (--target onnx --precision int4, or int8); got task {task}, target {target}, "
                         f"precision {precision}{f' ({method})' if method else ''}. Drop --kv-cache.")
    return kv_cache


def key_scales(keys: np.ndarray) -> np.ndarray:
    """Per-channel scales [1, kv_heads, 1, head_dim] of rotated keys [..., kv_heads, positions, head_dim]: each
    rotary pair (j, j + head_dim/2) gets its largest radius, so any rotation of what was seen stays in range."""
    half = keys.shape[-1] // 2
    radius = np.sqrt(keys[..., :half].astype(np.float64) ** 2 + keys[..., half:].astype(np.float64) ** 2)
    peak = radius.reshape(-1, keys.shape[-3], keys.shape[-2], half).max(axis=(0, 2))  # [kv_heads, half]
    return _scales(np.concatenate([peak, peak], axis=-1))


def value_scales(values: np.ndarray) -> np.ndarray:
    """Per-channel scales [1, kv_heads, 1, head_dim]: each channel's largest magnitude."""
    flat = np.abs(values.astype(np.float64)).reshape(-1, values.shape[-3], values.shape[-2], values.shape[-1])
    return _scales(flat.max(axis=(0, 2)))


def _scales(peak: np.ndarray) -> np.ndarray:
    return (np.maximum(peak, TINY) / LEVELS).astype(np.float32)[None, :, None, :]


def _cached(feeds: list[dict], name: str) -> np.ndarray:
    """Every recorded cache of input `name` as [1, kv_heads, rows x positions, head_dim] (the calls' caches grow,
    so the last of each sequence holds its earlier ones; joining them all is simpler and bounds the same)."""
    seen = [f[name] for f in feeds if name in f and f[name].shape[2] > 0]
    if not seen:
        from edgetool.runtime.errors import UsageError

        raise UsageError(f"The calibration data never filled the cache input '{name}': give prompts the model "
                         "generates from (one text a line).")
    return np.concatenate([s.transpose(1, 0, 2, 3).reshape(s.shape[1], -1, s.shape[3]) for s in seen], axis=1)[None]


def quantize_kv_cache(path: Path, feeds: list[dict]) -> dict:
    """Rewrite the fused decoder at `path` in place for an int8 KV cache, scales from `feeds` (recorded calls of
    the fp32 graph). Returns what the manifest records of it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    cache_names = set()
    layers = 0
    for node in graph.node:
        if node.op_type != "GroupQueryAttention":
            continue
        past_key, past_value = node.input[3], node.input[4]
        scales = {"k": key_scales(_cached(feeds, past_key)), "v": value_scales(_cached(feeds, past_value))}
        inputs = list(node.input) + [""] * max(0, 14 - len(node.input))
        for slot, kind in ((12, "k"), (13, "v")):
            name = f"{node.name}.{kind}_scale"
            graph.initializer.append(numpy_helper.from_array(scales[kind], name))
            inputs[slot] = name
        del node.input[:]
        node.input.extend(inputs)
        node.attribute.extend([helper.make_attribute("k_quant_type", "PER_CHANNEL"),
                               helper.make_attribute("v_quant_type", "PER_CHANNEL"),
                               helper.make_attribute("kv_cache_bit_width", 8)])
        cache_names.update([past_key, past_value, node.output[1], node.output[2]])
        layers += 1
    if not layers:
        from edgetool.runtime.errors import UnsupportedError

        raise UnsupportedError(f"{path.name} has no GroupQueryAttention node: --kv-cache int8 applies to ONNX "
                               "Runtime's fused decoder only.")
    for value in list(graph.input) + list(graph.output):
        if value.name in cache_names:
            value.type.tensor_type.elem_type = TensorProto.INT8
    onnx.save_model(model, str(path))
    calls = sum(1 for f in feeds if any(k in f for k in cache_names))
    return {"kv_cache": "int8", "io_dtypes": {name: "int8" for name in sorted(cache_names)}, "kv_cache_scales": "per channel, static (keys: largest rotary-pair radius; values: "
            "largest magnitude)", "kv_cache_calibration_calls": calls, "kv_cache_layers": layers}
