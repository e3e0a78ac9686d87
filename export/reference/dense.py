"""Small seeded dense-prediction references: SegFormer (semantic segmentation), GLPN and DPT (depth),
MaskFormer (mask classification). Images 32-64 px, hidden sizes 16-32, so export and tests stay fast."""
from __future__ import annotations

from pathlib import Path

from . import reference

SEG_LABELS = {0: "sky", 1: "road", 2: "car", 3: "tree", 4: "person"}


def _labels() -> dict:
    return {"id2label": dict(SEG_LABELS), "label2id": {v: k for k, v in SEG_LABELS.items()}}


@reference("segformer-tiny", task="image-segmentation")
def segformer_tiny(out: Path, seed: int) -> None:
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    torch.manual_seed(seed)
    cfg = SegformerConfig(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[16, 32],
                          patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 2], mlp_ratios=[2, 2],
                          decoder_hidden_size=32, initializer_range=0.2, **_labels())
    SegformerForSemanticSegmentation(cfg).eval().save_pretrained(str(out), safe_serialization=True)
    SegformerImageProcessor(size={"height": 64, "width": 64}).save_pretrained(str(out))


@reference("glpn-tiny", task="depth-estimation")
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


@reference("dpt-tiny", task="depth-estimation")
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
