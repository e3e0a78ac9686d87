"""Small seeded dense-prediction references: SegFormer (semantic segmentation), GLPN and DPT (depth),
MaskFormer (mask classification). Images 32-64 px, hidden sizes 16-32, so export and tests stay fast."""
from __future__ import annotations

from pathlib import Path


SEG_LABELS = {0: "sky", 1: "road", 2: "car", 3: "tree", 4: "person"}


def _labels() -> dict:
    return {"id2label": dict(SEG_LABELS), "label2id": {v: k for k, v in SEG_LABELS.items()}}


def segformer_tiny(out: Path, seed: int) -> None:
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    torch.manual_seed(seed)
    cfg = SegformerConfig(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[16, 32],
                          patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 2], mlp_ratios=[2, 2],
                          decoder_hidden_size=32, initializer_range=0.2, **_labels())
    SegformerForSemanticSegmentation(cfg).eval().save_pretrained(str(out), safe_serialization=True)
    SegformerImageProcessor(size={"height": 64, "width": 64}).save_pretrained(str(out))


def glpn_tiny(out: Path, seed: int) -> None:
    import torch
    from transformers import GLPNConfig, GLPNForDepthEstimation, GLPNImageProcessor

    torch.manual_seed(seed)
    cfg = GLPNConfig(num_encoder_blocks=4, depths=[1, 1, 1, 1], sr_ratios=[4, 2, 1, 1], hidden_sizes=[8, 16, 16, 32],
                     patch_sizes=[7, 3, 3, 3], strides=[4, 2, 2, 2], num_attention_heads=[1, 1, 2, 2],
                     mlp_ratios=[2, 2, 2, 2], decoder_hidden_size=16, head_in_index=-1, max_depth=10,
                     initializer_range=0.2)
    GLPNForDepthEstimation(cfg).eval().save_pretrained(str(out), safe_serialization=True)
    GLPNImageProcessor(size_divisor=32).save_pretrained(str(out))


def dpt_tiny(out: Path, seed: int) -> None:
    import torch
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    torch.manual_seed(seed)
    cfg = DPTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                    intermediate_size=64, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[16, 16, 16, 16],
                    reassemble_factors=[4, 2, 1, 0.5], fusion_hidden_size=16, head_in_index=-1,
                    initializer_range=0.2, is_hybrid=False)
    DPTForDepthEstimation(cfg).eval().save_pretrained(str(out), safe_serialization=True)
    DPTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(str(out))


def maskformer_tiny(out: Path, seed: int) -> None:
    """MaskFormer (ResNet backbone, 8 queries). The class head is sharpened after the random init so
    queries are confident (panoptic keeps scores > 0.9) and disagree: otherwise the pipeline's default
    post-processing returns nothing, or one label everywhere, and a parity test proves little."""
    import torch
    from transformers import (DetrConfig, MaskFormerConfig, MaskFormerForInstanceSegmentation,
                              MaskFormerImageProcessor, ResNetConfig)

    torch.manual_seed(seed)
    backbone = ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16, 32, 32], depths=[1, 1, 1, 1],
                            layer_type="basic", out_features=["stage1", "stage2", "stage3", "stage4"])
    # The decoder config's own backbone is unused; DetrConfig's default (timm "resnet50") would make
    # transformers 5 look the name up on the Hub when the checkpoint is loaded.
    decoder = DetrConfig(d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2,
                         decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=8,
                         use_timm_backbone=False, use_pretrained_backbone=False, backbone=None,
                         backbone_config=backbone)
    cfg = MaskFormerConfig(backbone_config=backbone, decoder_config=decoder, fpn_feature_size=32,
                           mask_feature_size=32, num_queries=8, init_std=0.1, **_labels())
    model = MaskFormerForInstanceSegmentation(cfg).eval()
    with torch.no_grad():
        model.model.transformer_module.queries_embedder.weight.normal_(0.0, 3.0)
        # Decoder outputs share a large image-driven component across queries; project it out of the
        # class head so the queries' differences pick their classes (several labels per picture).
        hidden = model(pixel_values=torch.randn(4, 3, 64, 64)).transformer_decoder_last_hidden_state
        u = hidden.mean((0, 1))
        u = u / u.norm()
        w = model.class_predictor.weight
        w.copy_(40.0 * (w - (w @ u)[:, None] * u[None, :]))
        model.class_predictor.bias[-1] = -10.0  # "no object" rarely wins
    model.save_pretrained(str(out), safe_serialization=True)
    MaskFormerImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}, size_divisor=32).save_pretrained(str(out))


def depth_anything_tiny(out: Path, seed: int) -> None:
    """Depth Anything (Dinov2 backbone, patch 14) with its keep_aspect_ratio processor: input sizes follow the
    picture's aspect ratio (multiples of 14), so the graph must keep height and width dynamic."""
    import torch
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessor

    torch.manual_seed(seed)
    backbone = Dinov2Config(image_size=28, patch_size=14, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                            intermediate_size=64, out_features=["stage1", "stage2", "stage3", "stage4"],
                            reshape_hidden_states=False)
    cfg = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=32, patch_size=14,
                              neck_hidden_sizes=[16, 16, 16, 16], fusion_hidden_size=16, head_hidden_size=8,
                              depth_estimation_type="relative")
    DepthAnythingForDepthEstimation(cfg).eval().save_pretrained(str(out), safe_serialization=True)
    DPTImageProcessor(size={"height": 42, "width": 42}, keep_aspect_ratio=True, ensure_multiple_of=14, resample=3,
                      image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225]).save_pretrained(str(out))


def zoedepth_tiny(out: Path, seed: int) -> None:
    """ZoeDepth (BEiT backbone with relative position bias, as the Intel checkpoints) with its processor's
    defaults scaled down: reflection padding, keep_aspect_ratio, ensure_multiple_of=16 (input sizes follow
    the picture, so the graph keeps height and width dynamic), bilinear align_corners resizing."""
    import torch
    from transformers import BeitConfig, ZoeDepthConfig, ZoeDepthForDepthEstimation, ZoeDepthImageProcessor

    torch.manual_seed(seed)
    backbone = BeitConfig(image_size=32, patch_size=16, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                          intermediate_size=64, use_relative_position_bias=True, reshape_hidden_states=False,
                          out_features=["stage1", "stage2", "stage3", "stage4"])
    cfg = ZoeDepthConfig(backbone_config=backbone, neck_hidden_sizes=[16, 16, 16, 16], fusion_hidden_size=16,
                         num_relative_features=8, bottleneck_features=16, bin_embedding_dim=16,
                         patch_transformer_hidden_size=16, patch_transformer_intermediate_size=32,
                         patch_transformer_num_attention_heads=2, num_attractors=[4, 2, 1, 1],
                         bin_configurations=[{"n_bins": 16, "min_depth": 1e-3, "max_depth": 10.0, "name": "nyu"}],
                         initializer_range=0.15)
    ZoeDepthForDepthEstimation(cfg).eval().save_pretrained(str(out), safe_serialization=True)
    ZoeDepthImageProcessor(size={"height": 48, "width": 64}, ensure_multiple_of=16).save_pretrained(str(out))
