"""Small seeded vision reference models."""
from __future__ import annotations

from pathlib import Path


IMAGE_LABELS = {0: "cat", 1: "dog", 2: "car", 3: "tree", 4: "house"}


def vit_tiny_classifier(out: Path, seed: int) -> None:
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(seed)
    cfg = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=64, initializer_range=0.2, id2label=IMAGE_LABELS,
                    label2id={v: k for k, v in IMAGE_LABELS.items()})
    ViTForImageClassification(cfg).eval().save_pretrained(str(out), safe_serialization=True)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(str(out))


def convnext_tiny_classifier(out: Path, seed: int) -> None:
    """ConvNeXT with its crop_pct processor (shortest edge 32 < 384: resize to 36, centre-crop 32)."""
    import torch
    from transformers import ConvNextConfig, ConvNextForImageClassification, ConvNextImageProcessor

    torch.manual_seed(seed)
    cfg = ConvNextConfig(num_channels=3, patch_size=4, num_stages=2, hidden_sizes=[16, 32], depths=[1, 1],
                         image_size=32, initializer_range=0.2, id2label=IMAGE_LABELS,
                         label2id={v: k for k, v in IMAGE_LABELS.items()})
    ConvNextForImageClassification(cfg).eval().save_pretrained(str(out), safe_serialization=True)
    ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=0.875).save_pretrained(str(out))
