"""Tiny seeded semantic-segmentation models of the per-pixel-logits families (DPT, MobileViT / MobileViTV2
DeepLabV3, UperNet with ConvNeXT and Swin backbones, BEiT), each saved with its own family's image
processor. A table like classifiers.py: MODELS[name] = (model class, config builder, processor class,
processor kwargs); the builder of `name` is the module attribute `build_<name with - as _>`."""
from __future__ import annotations

from pathlib import Path

from . import define_builders
from .dense import SEG_LABELS

_VIT_LIKE = dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                 intermediate_size=64)
_STAGES = ["stage1", "stage2", "stage3", "stage4"]


def _dpt(t):
    return t.DPTConfig(**_VIT_LIKE, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[16, 16, 16, 16],
                       reassemble_factors=[4, 2, 1, 0.5], fusion_hidden_size=16, head_in_index=-1, is_hybrid=False,
                       use_auxiliary_head=False)


def _mobilevit(t):
    return t.MobileViTConfig(image_size=64, patch_size=2, hidden_sizes=[16, 24, 32],
                             neck_hidden_sizes=[8, 8, 16, 16, 24, 32, 64], num_attention_heads=2,
                             aspp_out_channels=16, atrous_rates=[1, 2, 3])


def _mobilevitv2(t):
    return t.MobileViTV2Config(image_size=64, patch_size=2, width_multiplier=0.25, aspp_out_channels=16,
                               atrous_rates=[1, 2, 3])


def _upernet(backbone, third_stage_channels):
    def make(t):
        return t.UperNetConfig(backbone_config=backbone(t), hidden_size=16, auxiliary_channels=8,
                               auxiliary_in_channels=third_stage_channels, pool_scales=[1, 2])
    return make


def _convnext(t):
    return t.ConvNextConfig(num_channels=3, patch_size=4, num_stages=4, hidden_sizes=[8, 16, 24, 32],
                            depths=[1, 1, 1, 1], out_features=_STAGES)


def _swin(t):
    return t.SwinConfig(image_size=64, patch_size=4, embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2],
                        window_size=2, out_features=_STAGES)


def _beit(t):
    return t.BeitConfig(**_VIT_LIKE, out_indices=[0, 1, 2, 3], use_relative_position_bias=True,
                        pool_scales=[1, 2], auxiliary_channels=16)


MODELS: dict[str, tuple] = {
    "dpt-segmentation-tiny": ("DPTForSemanticSegmentation", _dpt, "DPTImageProcessor",
                              {"size": {"height": 32, "width": 32}, "do_reduce_labels": True}),
    "mobilevit-deeplabv3-tiny": ("MobileViTForSemanticSegmentation", _mobilevit, "MobileViTImageProcessor",
                                 {"size": {"shortest_edge": 68}, "crop_size": {"height": 64, "width": 64},
                                  "do_reduce_labels": True}),
    "mobilevitv2-deeplabv3-tiny": ("MobileViTV2ForSemanticSegmentation", _mobilevitv2, "MobileViTImageProcessor",
                                   {"size": {"shortest_edge": 68}, "crop_size": {"height": 64, "width": 64}}),
    "upernet-convnext-tiny": ("UperNetForSemanticSegmentation", _upernet(_convnext, 24), "SegformerImageProcessor",
                              {"size": {"height": 64, "width": 64}}),
    "upernet-swin-tiny": ("UperNetForSemanticSegmentation", _upernet(_swin, 32), "SegformerImageProcessor",
                          {"size": {"height": 64, "width": 64}, "resample": 3}),
    "beit-segmentation-tiny": ("BeitForSemanticSegmentation", _beit, "BeitImageProcessor",
                               {"size": {"height": 32, "width": 32}, "do_center_crop": False,
                                "do_reduce_labels": True}),
}


def build(name: str, out: Path, seed: int) -> None:
    import torch
    import transformers

    model_cls, config, proc_cls, proc_kw = MODELS[name]
    torch.manual_seed(seed)
    cfg = config(transformers)
    cfg.id2label, cfg.label2id = dict(SEG_LABELS), {v: k for k, v in SEG_LABELS.items()}
    cfg.initializer_range = 0.2
    model = getattr(transformers, model_cls)(cfg).eval()
    processor = getattr(transformers, proc_cls)(**proc_kw)
    _spread_logits(model, processor, torch)
    model.save_pretrained(str(out), safe_serialization=True)
    processor.save_pretrained(str(out))


def _spread_logits(model, processor, torch) -> None:
    """Centre and scale the per-pixel classifier (the last convolution with one output channel per label) so
    that every class wins somewhere on random pictures: tiny random nets otherwise give one label to every
    pixel, and a parity test on one mask proves little."""
    import numpy as np

    rng = np.random.default_rng(0)
    pics = [np.kron(rng.integers(0, 255, (5 + i, 4 + i, 3)), np.ones((9, 11, 1))).astype(np.uint8) for i in range(4)]
    x = torch.from_numpy(processor(pics, return_tensors="np")["pixel_values"])
    n = model.config.num_labels
    head = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.out_channels == n][-1]
    seen: dict = {}
    hook = head.register_forward_hook(lambda mod, args, out: seen.__setitem__("out", out.detach()))
    with torch.no_grad():
        model(pixel_values=x)
        hook.remove()
        out = seen["out"]
        mean = out.mean((0, 2, 3))
        spread = float((out - mean[None, :, None, None]).std())
        if not 1e-6 < spread < 1e4:
            raise ValueError(f"{type(model).__name__}: random logits spread {spread}; change its tiny config")
        head.weight.mul_(3.0 / spread)
        if head.bias is not None:
            head.bias.sub_(mean).mul_(3.0 / spread)


define_builders(globals(), MODELS, build)


def mask2former_tiny(out: Path, seed: int) -> None:
    """Mask2Former (Swin backbone, 8 queries) with its own image processor. As for maskformer-tiny, the class
    head is sharpened after the random init so queries are confident and disagree (otherwise the pipeline's
    default panoptic post-processing keeps nothing, or one label everywhere)."""
    import torch
    from transformers import (Mask2FormerConfig, Mask2FormerForUniversalSegmentation, Mask2FormerImageProcessor,
                              SwinConfig)

    torch.manual_seed(seed)
    backbone = SwinConfig(image_size=64, patch_size=4, embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2],
                          window_size=2, out_features=_STAGES, use_absolute_embeddings=False)
    cfg = Mask2FormerConfig(backbone_config=backbone, feature_size=32, mask_feature_size=32, hidden_dim=32,
                            encoder_feedforward_dim=32, encoder_layers=1, decoder_layers=2, num_attention_heads=2,
                            dim_feedforward=32, num_queries=8, init_std=0.1, id2label=dict(SEG_LABELS),
                            label2id={v: k for k, v in SEG_LABELS.items()})
    model = Mask2FormerForUniversalSegmentation(cfg).eval()
    with torch.no_grad():
        model.model.transformer_module.queries_features.weight.normal_(0.0, 3.0)
        x = torch.randn(4, 3, 64, 64)
        # Mask logits near 0 everywhere would let one query own every pixel: take the picture-wide mean pixel
        # embedding out of the mask embeddings and scale them, so queries own different regions.
        last = [m for m in model.model.transformer_module.decoder.mask_predictor.mask_embedder.modules()
                if isinstance(m, torch.nn.Linear)][-1]
        mean_pixel = model(pixel_values=x).pixel_decoder_last_hidden_state.mean((0, 2, 3))
        v = mean_pixel / mean_pixel.norm()
        last.weight.copy_(last.weight - v[:, None] * (v @ last.weight)[None, :])
        last.bias.copy_(last.bias - v * (v @ last.bias))
        spread = float(model(pixel_values=x).masks_queries_logits.std())
        last.weight.mul_(4.0 / spread)
        last.bias.mul_(4.0 / spread)
        # ... and shift them down, so each query's own mask (logit > 0) is a small part of the picture, as
        # panoptic's overlap_mask_area_threshold expects of trained queries
        last.bias.sub_(5.0 * v / mean_pixel.norm())
        res = model(pixel_values=x)  # after the mask change: it moves the decoder's attention
        u = res.transformer_decoder_last_hidden_state.mean((0, 1))
        u = u / u.norm()
        w = model.class_predictor.weight
        w.copy_(40.0 * (w - (w @ u)[:, None] * u[None, :]))
        model.class_predictor.bias[-1] = -10.0  # "no object" rarely wins
    model.save_pretrained(str(out), safe_serialization=True)
    Mask2FormerImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}, size_divisor=32).save_pretrained(str(out))
