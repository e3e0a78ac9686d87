"""Tiny seeded DETR variants (Table Transformer, Conditional DETR, YOLOS, RT-DETR v1/v2, D-FINE), each saved with
its own image processor; the DETR ones on the tiny DETR's ResNet backbone and sizes."""
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


def _labelled(cfg):
    cfg.id2label, cfg.label2id = dict(DETECTION_LABELS), {v: k for k, v in DETECTION_LABELS.items()}
    return cfg


def yolos_tiny(out: Path, seed: int) -> None:
    """YOLOS: a ViT over 8x8 patches plus detection tokens; its processor resizes to multiples of 16."""
    import torch
    from transformers import YolosConfig, YolosForObjectDetection, YolosImageProcessor

    torch.manual_seed(seed)
    cfg = _labelled(YolosConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                image_size=[48, 64], patch_size=8, num_detection_tokens=10, initializer_range=0.1))
    model = YolosForObjectDetection(cfg).eval()
    with torch.no_grad():  # zero-initialised tokens and position embeddings: every detection token would agree
        for name, p in model.named_parameters():
            if "token" in name or "position" in name:
                p.normal_(0.0, 0.5)
    model.save_pretrained(str(out), safe_serialization=True)
    YolosImageProcessor(size={"shortest_edge": 48, "longest_edge": 64}).save_pretrained(str(out))


def _rt_detr_sizes() -> dict:
    from transformers import RTDetrResNetConfig

    backbone = RTDetrResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16, 16, 16], depths=[1, 1, 1, 1],
                                  layer_type="basic", out_features=["stage2", "stage3", "stage4"])
    return dict(backbone_config=backbone, use_timm_backbone=False, use_pretrained_backbone=False, backbone=None,
                encoder_in_channels=[16, 16, 16], feat_strides=[8, 16, 32], d_model=32, encoder_hidden_dim=32,
                encoder_layers=1, encoder_ffn_dim=64, encoder_attention_heads=2, decoder_layers=2,
                decoder_ffn_dim=64, decoder_attention_heads=2, decoder_in_channels=[32, 32, 32], num_queries=20,
                num_denoising=0, anchor_image_size=None, initializer_range=0.1)


def rt_detr_tiny(out: Path, seed: int) -> None:
    """RT-DETR: its processor resizes to 64x64 and does not normalize (the family's defaults but the size)."""
    import torch
    from transformers import RTDetrConfig, RTDetrForObjectDetection, RTDetrImageProcessor

    torch.manual_seed(seed)
    cfg = _labelled(RTDetrConfig(**_rt_detr_sizes()))
    RTDetrForObjectDetection(cfg).eval().save_pretrained(str(out), safe_serialization=True)
    RTDetrImageProcessor(size={"height": 64, "width": 64}).save_pretrained(str(out))


def rt_detr_v2_tiny(out: Path, seed: int) -> None:
    import torch
    from transformers import RTDetrImageProcessor, RTDetrV2Config, RTDetrV2ForObjectDetection

    torch.manual_seed(seed)
    cfg = _labelled(RTDetrV2Config(**_rt_detr_sizes()))
    RTDetrV2ForObjectDetection(cfg).eval().save_pretrained(str(out), safe_serialization=True)
    RTDetrImageProcessor(size={"height": 64, "width": 64}).save_pretrained(str(out))



def d_fine_tiny(out: Path, seed: int) -> None:
    """D-FINE: a tiny HGNetV2 backbone, RT-DETR's encoder sizes, its fine-grained box decoder; saved with
    RTDetrImageProcessor (D-FINE's own checkpoints use it) at 64x64."""
    import torch
    from transformers import DFineConfig, DFineForObjectDetection, HGNetV2Config, RTDetrImageProcessor

    torch.manual_seed(seed)
    backbone = HGNetV2Config(embedding_size=8, depths=[1, 1, 1, 1], hidden_sizes=[16, 16, 16, 16],
                             stem_channels=[3, 8, 8], stage_in_channels=[8, 16, 16, 16],
                             stage_mid_channels=[8, 8, 8, 8], stage_out_channels=[16, 16, 16, 16],
                             stage_num_blocks=[1, 1, 1, 1], stage_numb_of_layers=[2, 2, 2, 2],
                             out_features=["stage2", "stage3", "stage4"])
    sizes = {**_rt_detr_sizes(), "backbone_config": backbone, "decoder_n_points": 2, "lqe_hidden_dim": 8,
             "max_num_bins": 8}
    cfg = _labelled(DFineConfig(**sizes))
    model = DFineForObjectDetection(cfg).eval()
    with torch.no_grad():  # the random init leaves the backbone's features near 1e-16: rescale its convolutions
        for m in model.model.backbone.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight)
    model.save_pretrained(str(out), safe_serialization=True)
    RTDetrImageProcessor(size={"height": 64, "width": 64}).save_pretrained(str(out))


def deformable_detr_tiny(out: Path, seed: int) -> None:
    """Deformable DETR (single stage, no box refinement) on a 3-level tiny ResNet plus the extra stride-64 level."""
    import torch
    from transformers import (DeformableDetrConfig, DeformableDetrForObjectDetection, DeformableDetrImageProcessor,
                              ResNetConfig)

    torch.manual_seed(seed)
    backbone = ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16, 16, 16], depths=[1, 1, 1, 1],
                            layer_type="basic", out_features=["stage2", "stage3", "stage4"])
    sizes = {k: v for k, v in _SIZES.items() if k not in ("encoder_layers", "decoder_layers")}
    cfg = _labelled(DeformableDetrConfig(use_timm_backbone=False, use_pretrained_backbone=False, backbone=None,
                                         backbone_config=backbone, encoder_layers=1, decoder_layers=1,
                                         encoder_n_points=2, decoder_n_points=2, num_feature_levels=4, **sizes))
    DeformableDetrForObjectDetection(cfg).eval().save_pretrained(str(out), safe_serialization=True)
    DeformableDetrImageProcessor(size={"shortest_edge": 96, "longest_edge": 128}).save_pretrained(str(out))
