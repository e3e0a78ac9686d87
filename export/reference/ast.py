"""A tiny seeded Audio Spectrogram Transformer classifier with its ASTFeatureExtractor (32 mel bins,
64 frames: 0.65 s of audio; longer clips are cut, shorter ones padded, as transformers does)."""
from __future__ import annotations

from pathlib import Path

SPEECH_LABELS = {0: "yes", 1: "no", 2: "up", 3: "down"}


def ast_tiny_classifier(out: Path, seed: int) -> None:
    import torch
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    torch.manual_seed(seed)
    cfg = ASTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, patch_size=16,
                    frequency_stride=8, time_stride=8, max_length=64, num_mel_bins=32, initializer_range=0.2,
                    id2label=SPEECH_LABELS, label2id={v: k for k, v in SPEECH_LABELS.items()})
    ASTForAudioClassification(cfg).eval().save_pretrained(str(out), safe_serialization=True)
    ASTFeatureExtractor(num_mel_bins=32, max_length=64).save_pretrained(str(out))
