"""Tiny seeded DETR variants (Table Transformer, Conditional DETR): the tiny DETR's ResNet backbone and
sizes, each saved with its own image processor."""
from __future__ import annotations

from pathlib import Path

DETECTION_LABELS = {0: "person", 1: "bicycle", 2: "car"}
_SIZES = dict(d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
              encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=12, init_std=0.1)


def _backbone():
    from transformers import ResNetConfig

    return ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic",
                        out_features=["stage2"])


def _build(out: Path, seed: int, config_cls: str, model_cls: str, proc_cls: str) -> None:
    import torch
    import transformers

    torch.manual_seed(seed)
    cfg = getattr(transformers, config_cls)(
        use_timm_backbone=False, use_pretrained_backbone=False, backbone_config=_backbone(), backbone=None,
        id2label=DETECTION_LABELS, label2id={v: k for k, v in DETECTION_LABELS.items()}, **_SIZES)
    getattr(transformers, model_cls)(cfg).eval().save_pretrained(str(out), safe_serialization=True)
    getattr(transformers, proc_cls)(size={"shortest_edge": 48, "longest_edge": 64}).save_pretrained(str(out))


def table_transformer_tiny(out: Path, seed: int) -> None:
    _build(out, seed, "TableTransformerConfig", "TableTransformerForObjectDetection", "DetrImageProcessor")


def conditional_detr_tiny(out: Path, seed: int) -> None:
    _build(out, seed, "ConditionalDetrConfig", "ConditionalDetrForObjectDetection", "ConditionalDetrImageProcessor")
