"""What every text task's bundle needs: tokenizer.json and the tokenizer settings it does not hold."""
from __future__ import annotations

from pathlib import Path

from ..slow_tokenizers import decode_settings, fast_tokenizer

SPECIAL = ("pad_token", "unk_token", "cls_token", "sep_token", "mask_token", "bos_token", "eos_token")


def write_tokenizer(source, staging: Path) -> list[str]:
    """tokenizer.json: the fast tokenizer's own, or one converted from a slow-only tokenizer (slow_tokenizers)."""
    (staging / "tokenizer.json").write_text(fast_tokenizer(source.tokenizer()).to_str(), encoding="utf-8")
    return ["tokenizer.json"]


def tokenizer_settings(source) -> dict:
    """Special tokens, max length and padding side, taken from the transformers tokenizer."""
    tok = source.tokenizer()
    max_len = tok.model_max_length
    positions = getattr(source.config, "max_position_embeddings", None)
    if positions and (not max_len or max_len > positions):
        # a tokenizer without model_max_length reports ~1e30; the position table is the real limit
        offset = 2 if getattr(source.config, "model_type", "") in ("roberta", "xlm-roberta", "camembert") else 0
        max_len = positions - offset
    out = {"model_max_length": int(max_len), "padding_side": tok.padding_side,
           "model_input_names": list(tok.model_input_names),
           "clean_up_tokenization_spaces": bool(getattr(tok, "clean_up_tokenization_spaces", False)),
           **decode_settings(tok)}
    for name in SPECIAL:
        value = getattr(tok, name, None)
        if value is not None:
            out[name] = str(value)
    return out


def labels(config) -> dict:
    return {str(k): v for k, v in (config.id2label or {}).items()}
