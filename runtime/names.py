"""The one vocabulary for graph I/O and dimension names, shared by export, the runtime and TensorRT
profiles. Spell a name here once; everywhere else imports it.

Dims (dynamic axes of the ONNX graphs):
  batch             rows of a call
  sequence          new tokens of this call
  past_sequence     tokens already in the KV cache
  total_sequence    past_sequence + sequence (attention mask of a cached decoder)
  encoder_sequence  encoder output length (cross attention)
  height, width     picture size
  samples           audio samples;  frames: feature frames
"""
from __future__ import annotations

BATCH = "batch"
SEQUENCE = "sequence"
PAST_SEQUENCE = "past_sequence"
TOTAL_SEQUENCE = "total_sequence"
ENCODER_SEQUENCE = "encoder_sequence"
HEIGHT = "height"
WIDTH = "width"
SAMPLES = "samples"
FRAMES = "frames"

# Common tensor names (Hugging Face's own input names).
INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
TOKEN_TYPE_IDS = "token_type_ids"
POSITION_IDS = "position_ids"
PIXEL_VALUES = "pixel_values"
PIXEL_MASK = "pixel_mask"
INPUT_VALUES = "input_values"
INPUT_FEATURES = "input_features"
DECODER_INPUT_IDS = "decoder_input_ids"
ENCODER_HIDDEN_STATES = "encoder_hidden_states"
ENCODER_ATTENTION_MASK = "encoder_attention_mask"
LAST_HIDDEN_STATE = "last_hidden_state"
LOGITS = "logits"

# KV cache. `part` is "" for a decoder-only model, "decoder" (self attention) or "encoder" (cross
# attention) for an encoder-decoder model; `kind` is "key" or "value".
PAST_PREFIX = "past_key_values."
PRESENT_PREFIX = "present."
KV_KINDS = ("key", "value")


def _kv(prefix: str, layer: int, kind: str, part: str = "") -> str:
    if kind not in KV_KINDS:
        raise ValueError(f"KV kind must be one of {KV_KINDS}, got {kind!r}")
    return f"{prefix}{layer}.{part + '.' if part else ''}{kind}"


def past(layer: int, kind: str, part: str = "") -> str:
    """past_key_values.{layer}[.{part}].{kind} — a cache input."""
    return _kv(PAST_PREFIX, layer, kind, part)


def present(layer: int, kind: str, part: str = "") -> str:
    """present.{layer}[.{part}].{kind} — a cache output."""
    return _kv(PRESENT_PREFIX, layer, kind, part)


def past_for(present_name: str) -> str:
    """The cache input a cache output feeds on the next step."""
    if not present_name.startswith(PRESENT_PREFIX):
        raise ValueError(f"{present_name!r} is not a cache output ({PRESENT_PREFIX}...)")
    return PAST_PREFIX + present_name[len(PRESENT_PREFIX):]


def kv_layers(names, prefix: str = PAST_PREFIX) -> list[int]:
    """Sorted layer indices of the cache tensors among `names`."""
    return sorted({int(n[len(prefix):].split(".", 1)[0]) for n in names if n.startswith(prefix)})


# The backend that runs each build target's artifacts by default (a bundle's default_target, an
# artifact's target -> the backend name of edgetool.runtime.backends).
TARGET_BACKEND = {"onnx": "onnxruntime", "openvino": "openvino", "trt": "tensorrt"}


# Graphs that stand in for another graph on the engines that can run them (engine-specific contrib ops): name ->
# (the graph it replaces, the backends that run it). Export builds them only for those backends' targets; other
# backends run the graph they replace. See export/fused_decoder.py.
FUSED_DECODER = "decoder_fused"
ALTERNATIVE_GRAPHS: dict[str, tuple[str, tuple[str, ...]]] = {FUSED_DECODER: ("decoder", ("onnxruntime",))}


# Graphs run once per generated token (decoder-only and encoder-decoder steps, and the fused form): all their
# weights stream through the CPU at every step, so ONNX Runtime's CPU sessions of these go on huge pages
# (runtime/backends/huge_pages.py). Others run once per request and keep their cold start.
PER_TOKEN_GRAPHS = frozenset({"decoder", FUSED_DECODER})


def graph_backends(graph: str) -> tuple[str, ...] | None:
    """The only backends that run `graph` (None: any backend)."""
    alt = ALTERNATIVE_GRAPHS.get(graph)
    return alt[1] if alt else None
