"""Object-detection reference models: a tiny DETR (transformers) and a YOLO-style anchor-free detector.

The YOLO-style model is plain PyTorch (three strided convs and a decoupled 1x1 head, YOLOv8-like
outputs). It is wrapped in a PreTrainedModel and registered with the Auto classes only so that it is
saved as config.json + model.safetensors and loaded through the same path as every checkpoint.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForObjectDetection, PretrainedConfig, PreTrainedModel


DETECTION_LABELS = {0: "person", 1: "bicycle", 2: "car"}


class YoloConfig(PretrainedConfig):
    model_type = "edgetool-yolo"

    def __init__(self, image_size: int = 64, width: int = 16, stride: int = 8, cls_bias: float = -2.0, **kw):
        self.image_size, self.width, self.stride, self.cls_bias = image_size, width, stride, cls_bias
        super().__init__(**kw)


class YoloDetector(PreTrainedModel):
    """pixel_values [B, 3, S, S] (letterboxed, 0..1) -> boxes [B, N, 4] xyxy in input pixels,
    scores [B, N, C] (sigmoid per class), N = (S / stride)^2 anchor points."""

    config_class = YoloConfig
    main_input_name = "pixel_values"

    def __init__(self, config: YoloConfig):
        super().__init__(config)
        w = config.width
        self.backbone = nn.Sequential(
            nn.Conv2d(3, w, 3, 2, 1), nn.SiLU(), nn.Conv2d(w, 2 * w, 3, 2, 1), nn.SiLU(),
            nn.Conv2d(2 * w, 2 * w, 3, 2, 1), nn.SiLU())
        self.box_head = nn.Conv2d(2 * w, 4, 1)
        self.cls_head = nn.Conv2d(2 * w, config.num_labels, 1)
        n = config.image_size // config.stride
        # A per-anchor class bias: anchors over flat letterbox padding would otherwise score exactly alike.
        self.anchor_bias = nn.Parameter(torch.zeros(n * n, config.num_labels))
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, nn.Conv2d):
            nn.init.normal_(module.weight, std=(2.0 / (module.in_channels * module.kernel_size[0] ** 2)) ** 0.5)
            nn.init.zeros_(module.bias)
        if module is getattr(self, "cls_head", None):
            nn.init.normal_(module.weight, std=0.5)
            nn.init.constant_(module.bias, self.config.cls_bias)  # a few anchors per image clear 0.25
        if module is self:
            nn.init.normal_(module.anchor_bias, std=0.3)
        if module is getattr(self, "box_head", None):
            nn.init.normal_(module.weight, std=0.2)
            nn.init.constant_(module.bias, 0.5)

    def centers(self) -> torch.Tensor:
        """Anchor centres [N, 2] (x, y) in input pixels. Computed, not a buffer: transformers 5 builds models on
        the meta device before loading, and a non-persistent buffer made in __init__ would stay uninitialized."""
        n = self.config.image_size // self.config.stride
        ys, xs = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        return (torch.stack([xs, ys], -1).reshape(-1, 2).float() + 0.5) * self.config.stride

    def forward(self, pixel_values, return_dict=True, **_):
        f = self.backbone(pixel_values)
        b = pixel_values.shape[0]
        ltrb = nn.functional.softplus(self.box_head(f)).flatten(2).transpose(1, 2) * (2 * self.config.stride)
        scores = torch.sigmoid(self.cls_head(f).flatten(2).transpose(1, 2) + self.anchor_bias)
        c = self.centers().to(pixel_values.dtype).unsqueeze(0).expand(b, -1, -1)
        boxes = torch.cat([c - ltrb[..., :2], c + ltrb[..., 2:]], -1)
        return {"boxes": boxes, "scores": scores}


AutoConfig.register(YoloConfig.model_type, YoloConfig, exist_ok=True)
AutoModelForObjectDetection.register(YoloConfig, YoloDetector, exist_ok=True)


def _labels() -> dict:
    return {"id2label": DETECTION_LABELS, "label2id": {v: k for k, v in DETECTION_LABELS.items()}}


def yolo_tiny(out: Path, seed: int) -> None:
    torch.manual_seed(seed)
    YoloDetector(YoloConfig(**_labels())).eval().save_pretrained(str(out), safe_serialization=True)


def detr_tiny(out: Path, seed: int) -> None:
    from transformers import DetrConfig, DetrForObjectDetection, DetrImageProcessor, ResNetConfig

    torch.manual_seed(seed)
    backbone = ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                            layer_type="basic", out_features=["stage2"])
    cfg = DetrConfig(use_timm_backbone=False, use_pretrained_backbone=False, backbone_config=backbone,
                     backbone=None, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
                     decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=12,
                     init_std=0.1, **_labels())
    DetrForObjectDetection(cfg).eval().save_pretrained(str(out), safe_serialization=True)
    DetrImageProcessor(size={"shortest_edge": 48, "longest_edge": 64}).save_pretrained(str(out))
