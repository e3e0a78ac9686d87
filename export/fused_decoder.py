"""The ONNX Runtime form of a Llama-style decoder: built from the weights with ONNX Runtime's fused contrib ops.

The portable decoder graph (graphs_generation.py) is traced from PyTorch in standard ONNX, so OpenVINO and
TensorRT run it too; ONNX Runtime then executes ~40 small kernels per layer at every generated token, and at
batch 1 each costs a thread-pool round trip. This graph computes the same step in 11 nodes per layer:

    SkipSimplifiedLayerNormalization (residual add + RMSNorm)   x2
    MatMul  packed q|k|v projection (one weight, [hidden, (heads + 2 kv_heads) * head_dim])
    GroupQueryAttention  rotary embedding (cos/sin tables), grouped heads, the KV cache — past and present may
                         be ONE buffer the runtime binds to both (written in place at the new positions)
    MatMul  o_proj; MatMul packed gate|up, Split, Sigmoid, Mul, Mul (SiLU gating), MatMul down

Interface (names as in the portable graph, minus position_ids): input_ids [batch, sequence], attention_mask
[batch, total_sequence] (all ones: the positions are counted from it, so rows are never padded — padded
batches use the portable graph), past_key_values.{i}.key/value [batch, kv_heads, past_sequence, head_dim] ->
logits [batch, 1, vocab] (the last position's: all the generation loop reads, and the LM head over a whole
prompt costs a fifth of its prefill), present.{i}.key/value [batch, kv_heads, total_sequence, head_dim]. With a
shared buffer, past_sequence is the buffer's capacity and present has the same shape.

Families (FAMILIES, one entry each): Llama, Mistral (sliding window: GroupQueryAttention's local window), Qwen2
(q/k/v biases), Qwen3 (q and k RMS-normalized per head before GroupQueryAttention rotates them), Phi-3 (packed
qkv and gate|up projections), SmolLM3 (NoPE layers: GroupQueryAttention without rotary there), Gemma (RMSNorm
scale 1 + weight, embeddings times sqrt(hidden), tanh-approximated GELU: FastGelu), Gemma 2 (Gemma's, plus a norm
after attention and around the MLP, soft-capped attention and logits, sliding-window layers between global ones:
a local window per GroupQueryAttention), Granite (embedding, residual and logits multipliers). Qwen2, Qwen3 and
SmolLM3 with use_sliding_window get a local window on their sliding layers too. Only what this graph can state
exactly is built: `unsupported(model)` names the first thing it cannot (another family, a bias, an activation, a
partial rotary embedding, a RoPE kind computed per call, a head size GroupQueryAttention does not take); the
export then keeps only the portable graph. The tables are the model's own `inv_freq` (Llama 3 / linear scaling
already folded in) times its attention scaling, so RoPE variants that only change the frequencies need nothing here.

The MatMul weights are plain initializers, so int4/int8 weight-only quantization (quantize/weight_only.py)
takes them exactly as it takes the portable graph's.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgetool.runtime import names as n

_STATIC_ROPE = (None, "default", "linear", "llama3")  # frequencies fixed at load: one table serves every call
OPSET = 17
MS_DOMAIN = "com.microsoft"


def _array(t) -> np.ndarray:
    return t.detach().to("cpu").float().numpy()


def _separate_qkv(attn):
    """q_proj, k_proj, v_proj -> one [hidden, (heads + 2 kv_heads) * head_dim] weight and its bias (or None)."""
    projections = (attn.q_proj, attn.k_proj, attn.v_proj)
    weight = np.concatenate([_array(p.weight) for p in projections]).T
    bias = np.concatenate([_array(p.bias) for p in projections]) if attn.q_proj.bias is not None else None
    return weight, bias


def _packed_qkv(attn):  # Phi-3: already one projection, rows q | k | v
    return _array(attn.qkv_proj.weight).T, None if attn.qkv_proj.bias is None else _array(attn.qkv_proj.bias)


def _separate_gate_up(mlp):
    return np.concatenate([_array(mlp.gate_proj.weight), _array(mlp.up_proj.weight)]).T


def _packed_gate_up(mlp):  # Phi-3: already one projection, the gate's rows first
    return _array(mlp.gate_up_proj.weight).T


def _config_window(config) -> list[int | None]:  # every layer: the config's window (Mistral, Phi-3)
    return [getattr(config, "sliding_window", None) or None] * config.num_hidden_layers


def _no_window(config) -> list[int | None]:
    return [None] * config.num_hidden_layers


def _typed_windows(config) -> list[int | None]:
    """The window on the "sliding_attention" layers of config.layer_types only (Gemma 2 alternates them; with
    use_sliding_window, Qwen2/Qwen3 slide from max_window_layers on, SmolLM3 on its NoPE layers); none: all global."""
    types = getattr(config, "layer_types", None) or ["full_attention"] * config.num_hidden_layers
    return [config.sliding_window if t == "sliding_attention" else None for t in types]


def _nothing(config) -> None:
    return None


def _all_rotary(config) -> list[bool]:
    return [True] * config.num_hidden_layers


def _nope_layers(config) -> list[bool]:  # SmolLM3: no_rope_layers[i] is 1 where layer i rotates
    return [bool(r) for r in config.no_rope_layers]


def _gemma_embed_scale(config) -> np.float32:  # sqrt(hidden) in the embeddings' dtype, as GemmaModel does
    return np.float32(config.hidden_size ** 0.5)


def _no_softcap(config) -> float:
    return 0.0


def _attn_softcap(config) -> float:  # Gemma 2's attn_logit_softcapping (None: none)
    return float(config.attn_logit_softcapping or 0.0)


def _rms_norm(g: "_Graph", x: str, weight: str, name: str, eps: float) -> str:
    """RMSNorm over the last axis in float32 (ONNX Runtime's SimplifiedLayerNormalization)."""
    return g.node("SimplifiedLayerNormalization", [x, weight], 1, name, axis=-1, epsilon=eps, stash_type=1)[0]


@dataclass
class _Layer:
    """One decoder layer being written: what a family's hooks add nodes with."""

    g: "_Graph"
    p: str  # name prefix, layers.{i}
    layer: Any  # the transformers decoder layer
    config: Any
    norm_weight: Callable  # RMSNorm module -> its float32 scale

    def rms_norm(self, x: str, module, name: str) -> str:
        w = self.g.const(f"{self.p}.{name}.weight", self.norm_weight(module))
        return _rms_norm(self.g, x, w, f"{self.p}/{name}", float(self.config.rms_norm_eps))

    def scale(self, x: str, factor: float, name: str) -> str:  # x * factor, the factor in float32 as torch has it
        return self.g.node("Mul", [x, self.g.const(f"{self.p}.{name}", np.array(factor, np.float32))], 1,
                           f"{self.p}/{name}")[0]


def _keep(layer: _Layer, x: str) -> str:
    return x


def _post_attention_norm(layer: _Layer, x: str) -> str:  # Gemma 2: the attention output normalized on its own
    return layer.rms_norm(x, layer.layer.post_attention_layernorm, "post_attention_norm")


def _post_feedforward_norm(layer: _Layer, x: str) -> str:
    return layer.rms_norm(x, layer.layer.post_feedforward_layernorm, "post_feedforward_norm")


def _residual_multiplied(name: str) -> Callable:  # Granite: residual + branch * residual_multiplier
    return lambda layer, x: layer.scale(x, layer.config.residual_multiplier, name)


def _post_attention_layernorm(layer) -> Any:
    return layer.post_attention_layernorm


def _gemma2_logits(config) -> list:
    cap = config.final_logit_softcapping
    return [("Div", cap), ("Tanh", None), ("Mul", cap)] if cap else []


@dataclass(frozen=True)
class Family:
    """How one model type's layer maps onto the fused graph."""

    qkv: Callable = _separate_qkv  # attention module -> (packed weight [hidden, q|k|v], bias or None)
    gate_up: Callable = _separate_gate_up  # MLP module -> packed weight [hidden, gate | up]
    windows: Callable = _no_window  # config -> per layer, transformers' sliding window (keys seen, itself included)
    refuse: Callable = _nothing  # config -> what the graph cannot express, or None
    rotary: Callable = _all_rotary  # config -> per layer, whether it applies RoPE
    embed_scale: Callable = _nothing  # config -> the factor the embeddings are multiplied by, or None
    norm_offset: float = 0.0  # RMSNorm scale = offset + weight (Gemma stores weight - 1)
    softcap: Callable = _no_softcap  # config -> attention logits soft-cap (0: none)
    attn_out: Callable = _keep  # (_Layer, o_proj output) -> what is added to the residual
    mlp_norm: Callable = _post_attention_layernorm  # decoder layer -> the RMSNorm before the MLP
    mlp_out: Callable = _keep  # (_Layer, down_proj output) -> what is added to the residual
    logits: Callable = lambda config: []  # config -> [(op, constant or None)] applied to the LM head's output
    act: Callable = lambda config: getattr(config, "hidden_act", "silu")  # config -> the MLP's activation (ACTIVATIONS)


def _silu(g: "_Graph", x: str, p: str) -> str:
    return g.node("Mul", [x, g.node("Sigmoid", [x], 1, f"{p}/sigmoid")[0]], 1, f"{p}/silu")[0]


def _gelu_tanh(g: "_Graph", x: str, p: str) -> str:  # torch's gelu(approximate="tanh"): ONNX Runtime's FastGelu
    return g.node("FastGelu", [x], 1, f"{p}/gelu_tanh", domain=MS_DOMAIN)[0]


# activation name (Family.act: hidden_act, or Gemma 2's hidden_activation) -> the nodes of the MLP gate's activation
ACTIVATIONS: dict[str, Callable] = {"silu": _silu, "gelu_pytorch_tanh": _gelu_tanh}


FAMILIES = {
    "llama": Family(),
    "mistral": Family(windows=_config_window),
    "qwen2": Family(windows=_typed_windows),  # q/k/v biases
    "qwen3": Family(windows=_typed_windows),  # per-head q/k RMSNorm before RoPE (_qk_normed)
    "phi3": Family(qkv=_packed_qkv, gate_up=_packed_gate_up, windows=_config_window,
                   refuse=lambda c: (f"partial rotary embedding ({c.partial_rotary_factor})"
                                     if getattr(c, "partial_rotary_factor", 1.0) != 1.0 else None)),
    "smollm3": Family(rotary=_nope_layers, windows=_typed_windows),  # every few layers without RoPE (NoPE)
    "gemma": Family(embed_scale=_gemma_embed_scale, norm_offset=1.0),  # RMSNorm * (1 + weight), scaled embeddings
    # and four norms a layer, soft-capped attention and logits, sliding-window layers between global ones
    "gemma2": Family(embed_scale=_gemma_embed_scale, norm_offset=1.0, windows=_typed_windows,
                     softcap=_attn_softcap, attn_out=_post_attention_norm,
                     mlp_norm=lambda layer: layer.pre_feedforward_layernorm, mlp_out=_post_feedforward_norm,
                     logits=_gemma2_logits, act=lambda c: c.hidden_activation),
    "granite": Family(embed_scale=lambda c: np.float32(c.embedding_multiplier),  # its attention_multiplier is
                      attn_out=_residual_multiplied("attn_residual_multiplier"),  # the attention's own scaling
                      mlp_out=_residual_multiplied("mlp_residual_multiplier"),
                      logits=lambda c: [("Div", c.logits_scaling)]),
}


def unsupported(model) -> str | None:
    """Why this model cannot get the fused graph (None: it can)."""
    config = model.config
    kind = getattr(config, "model_type", None)
    family = FAMILIES.get(kind)
    if family is None:
        return f"model type {kind!r} is not one of {tuple(FAMILIES)}"
    if (act := family.act(config)) not in ACTIVATIONS:
        return f"activation {act!r} (one of {tuple(ACTIVATIONS)})"
    if getattr(config, "mlp_bias", False):
        return "MLP biases"
    if reason := family.refuse(config):
        return reason
    rope = getattr(config, "rope_scaling", None) or {}
    if rope.get("rope_type", rope.get("type")) not in _STATIC_ROPE:
        return f"RoPE type {rope.get('rope_type', rope.get('type'))!r} (computed per call)"
    attn = model.model.layers[0].self_attn
    if attn.head_dim % 16:
        return f"head size {attn.head_dim} (GroupQueryAttention's rotary embedding needs a multiple of 16)"
    if attn.o_proj.bias is not None:
        return "an output-projection bias"
    return None


class _Graph:
    """Nodes and initializers being written, with unique names."""

    def __init__(self):
        from onnx import helper

        self.helper, self.nodes, self.inits = helper, [], []

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str] | int, name: str, domain: str = "", **attrs):
        outs = [f"{name}/out{i}" for i in range(outputs)] if isinstance(outputs, int) else outputs
        self.nodes.append(self.helper.make_node(op, inputs, outs, name=name, domain=domain, **attrs))
        return outs


def _rope_tables(model, positions: int) -> tuple[np.ndarray, np.ndarray]:
    rotary = model.model.rotary_emb
    inv_freq = _array(rotary.inv_freq)
    scale = np.float32(getattr(rotary, "attention_scaling", 1.0))
    # float32 angles and cos/sin, as transformers computes them per call
    angles = np.arange(positions, dtype=np.float32)[:, None] * inv_freq[None, :]
    return (np.cos(angles) * scale).astype(np.float32), (np.sin(angles) * scale).astype(np.float32)


def _qk_normed(g: _Graph, p: str, qkv: str, attn, heads: int, kv_heads: int, head_dim: int) -> list[str]:
    """[query, key, value] from the packed projection, query and key RMS-normalized per head (Qwen3)."""
    sizes = g.const(f"{p}.qkv_sizes", np.array([heads * head_dim, kv_heads * head_dim, kv_heads * head_dim], np.int64))
    q, k, v = g.node("Split", [qkv, sizes], 3, f"{p}/qkv_split", axis=-1)
    per_head = g.const(f"{p}.per_head", np.array([0, 0, -1, head_dim], np.int64))
    flat = g.const(f"{p}.flat", np.array([0, 0, -1], np.int64))
    out = []
    for name, x, norm in (("q", q, attn.q_norm), ("k", k, attn.k_norm)):
        heads_view = g.node("Reshape", [x, per_head], 1, f"{p}/{name}_heads")[0]
        normed = _rms_norm(g, heads_view, g.const(f"{p}.{name}_norm.weight", _array(norm.weight)), f"{p}/{name}_norm",
                           float(norm.variance_epsilon))
        out.append(g.node("Reshape", [normed, flat], 1, f"{p}/{name}_flat")[0])
    return [*out, v]


def build(model, path: Path) -> None:
    """Write the fused graph of `model` (a *ForCausalLM of FAMILIES, unsupported() is None) to `path`."""
    import onnx
    from onnx import TensorProto, helper

    config, core = model.config, model.model
    layers = len(core.layers)
    attn0 = core.layers[0].self_attn
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    head_dim = attn0.head_dim
    eps = float(config.rms_norm_eps)
    positions = int(config.max_position_embeddings)
    family = FAMILIES[config.model_type]
    windows = family.windows(config)
    rotary = family.rotary(config)
    softcap = family.softcap(config)
    act = ACTIVATIONS[family.act(config)]

    def norm_weight(module) -> np.ndarray:  # float32, as the RMSNorms apply it (+ 0.0 leaves it exact)
        return _array(module.weight) + np.float32(family.norm_offset)

    # transformers' sliding window W (keys q-W+1..q) is GroupQueryAttention's local_window_size W: checked
    # position by position against transformers (W-1 and W+1 both differ)
    local_windows = [w if w else -1 for w in windows]
    g = _Graph()

    # positions from the mask: GroupQueryAttention takes (valid length - 1) per row and the total length
    one = g.const("const/one", np.array([1], np.int64))
    summed = g.node("ReduceSum", [n.ATTENTION_MASK, one], 1, "mask/sum", keepdims=0)[0]
    minus = g.node("Sub", [summed, one], 1, "mask/sub")[0]
    seqlens = g.node("Cast", [minus], 1, "mask/seqlens_k", to=TensorProto.INT32)[0]
    shape = g.node("Shape", [n.ATTENTION_MASK], 1, "mask/shape")[0]
    width = g.node("Gather", [shape, one], 1, "mask/width", axis=0)[0]
    total = g.node("Cast", [g.node("Squeeze", [width], 1, "mask/width_scalar")[0]], 1, "mask/total",
                   to=TensorProto.INT32)[0]
    cos, sin = _rope_tables(model, positions)
    cos, sin = g.const("cos_cache", cos), g.const("sin_cache", sin)

    vocab = int(model.lm_head.weight.shape[0])
    table = g.const("embed_tokens.weight", _array(core.embed_tokens.weight))
    if model.lm_head.weight.data_ptr() == core.embed_tokens.weight.data_ptr():  # tied: the table stored once,
        lm = g.node("Transpose", [table], 1, "lm_head/transpose", perm=[1, 0])[0]  # as the traced graphs do
    else:
        lm = g.const("lm_head.weight", _array(model.lm_head.weight).T)
    residual = g.node("Gather", [table, n.INPUT_IDS], 1, "embed/gather")[0]
    if (scale := family.embed_scale(config)) is not None:
        residual = g.node("Mul", [residual, g.const("embed_scale", np.array(scale, np.float32))], 1, "embed/scale")[0]
    delta = None
    for i, layer in enumerate(core.layers):
        a, mlp, p = layer.self_attn, layer.mlp, f"layers.{i}"
        hooks = _Layer(g, p, layer, config, norm_weight)
        w_in = g.const(f"{p}.input_layernorm.weight", norm_weight(layer.input_layernorm))
        if delta is None:
            hidden = _rms_norm(g, residual, w_in, f"{p}/input_norm", eps)
        else:
            hidden, _, _, residual = g.node("SkipSimplifiedLayerNormalization", [residual, delta, w_in],
                                            [f"{p}/input_norm/out", "", "", f"{p}/input_norm/sum"],
                                            f"{p}/input_norm", domain=MS_DOMAIN, epsilon=eps)
        qkv_w, qkv_b = family.qkv(a)
        qkv = g.node("MatMul", [hidden, g.const(f"{p}.qkv_proj.weight", qkv_w)], 1, f"{p}/qkv_proj")[0]
        if qkv_b is not None:
            qkv = g.node("Add", [qkv, g.const(f"{p}.qkv_proj.bias", qkv_b)], 1, f"{p}/qkv_bias")[0]
        gqa_in = [qkv, "", ""]
        if getattr(a, "q_norm", None) is not None:  # Qwen3: per-head RMSNorm of q and k before the rotation
            gqa_in = _qk_normed(g, p, qkv, a, heads, kv_heads, head_dim)  # (GroupQueryAttention's own: CUDA only)
        gqa_in += [n.past(i, "key"), n.past(i, "value"), seqlens, total] + ([cos, sin] if rotary[i] else [])
        attn, _, _ = g.node("GroupQueryAttention", gqa_in,
                            [f"{p}/attn/out", n.present(i, "key"), n.present(i, "value")], f"{p}/attn",
                            domain=MS_DOMAIN, num_heads=heads, kv_num_heads=kv_heads, scale=float(a.scaling),
                            do_rotary=int(rotary[i]), rotary_interleaved=0, local_window_size=local_windows[i],
                            **({"softcap": softcap} if softcap else {}))
        out = g.node("MatMul", [attn, g.const(f"{p}.o_proj.weight", _array(a.o_proj.weight).T)], 1, f"{p}/o_proj")[0]
        out = family.attn_out(hooks, out)
        w_post = g.const(f"{p}.post_attention_layernorm.weight", norm_weight(family.mlp_norm(layer)))
        hidden, _, _, residual = g.node("SkipSimplifiedLayerNormalization", [residual, out, w_post],
                                        [f"{p}/post_norm/out", "", "", f"{p}/post_norm/sum"], f"{p}/post_norm",
                                        domain=MS_DOMAIN, epsilon=eps)
        # gate and up as one MatMul and a Split, like q|k|v: one weight kernel a layer fewer
        gate_up_w = family.gate_up(mlp)
        half = gate_up_w.shape[1] // 2
        gate_up = g.node("MatMul", [hidden, g.const(f"{p}.gate_up_proj.weight", gate_up_w)], 1, f"{p}/gate_up_proj")[0]
        gate, up = g.node("Split", [gate_up, g.const(f"{p}/gate_up_sizes", np.array([half, half], np.int64))], 2,
                          f"{p}/gate_up_split", axis=-1)
        gated = g.node("Mul", [act(g, gate, p), up], 1, f"{p}/gated")[0]
        delta = g.node("MatMul", [gated, g.const(f"{p}.down_proj.weight", _array(mlp.down_proj.weight).T)], 1,
                       f"{p}/down_proj")[0]
        delta = family.mlp_out(hooks, delta)
    w_norm = g.const("norm.weight", norm_weight(core.norm))
    final = g.node("SkipSimplifiedLayerNormalization", [residual, delta, w_norm], ["final_norm/out"], "final_norm",
                   domain=MS_DOMAIN, epsilon=eps)[0]
    # the loop reads the last position's logits only: the LM head over a whole prompt would be a fifth of prefill
    last = g.node("Slice", [final, g.const("const/last", np.array([-1], np.int64)),
                            g.const("const/end", np.array([np.iinfo(np.int64).max], np.int64)), one], 1, "last_position")[0]
    steps = family.logits(config)  # e.g. Gemma 2's soft-cap: tanh(logits / cap) * cap
    x = g.node("MatMul", [last, lm], [n.LOGITS] if not steps else 1, "lm_head")[0]
    for k, (op, constant) in enumerate(steps):
        inputs = [x] if constant is None else [x, g.const(f"logits.{k}", np.array(constant, np.float32))]
        x = g.node(op, inputs, [n.LOGITS] if k == len(steps) - 1 else 1, f"logits/{op.lower()}{k}")[0]

    f32, i64 = TensorProto.FLOAT, TensorProto.INT64
    inputs = [helper.make_tensor_value_info(n.INPUT_IDS, i64, [n.BATCH, n.SEQUENCE]),
              helper.make_tensor_value_info(n.ATTENTION_MASK, i64, [n.BATCH, n.TOTAL_SEQUENCE])]
    outputs = [helper.make_tensor_value_info(n.LOGITS, f32, [n.BATCH, 1, vocab])]
    for i in range(layers):
        for kv in n.KV_KINDS:
            inputs.append(helper.make_tensor_value_info(n.past(i, kv), f32,
                                                        [n.BATCH, kv_heads, n.PAST_SEQUENCE, head_dim]))
            outputs.append(helper.make_tensor_value_info(n.present(i, kv), f32,
                                                         [n.BATCH, kv_heads, n.TOTAL_SEQUENCE, head_dim]))
    graph = helper.make_graph(g.nodes, n.FUSED_DECODER, inputs, outputs, g.inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(MS_DOMAIN, 1)],
                              producer_name="edgetool")
    proto.ir_version = 10  # what ONNX Runtime 1.17+ reads (the onnx package would write its newest)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(proto, str(path))  # one file, as the traced graphs are
