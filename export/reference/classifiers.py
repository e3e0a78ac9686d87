"""Tiny seeded image classifiers of every image-classification family, each saved with its own family's
image processor (non-default sizes, so the crop / resize settings matter). A table, not code per family:
MODELS[name] = (config class, model class, config kwargs, processor class, processor kwargs); the builder
of `name` is the module attribute `build_<name with - as _>`."""
from __future__ import annotations

from pathlib import Path

from . import define_builders
from .vision import IMAGE_LABELS

_VIT_LIKE = dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=64)
_CROP32 = {"crop_size": {"height": 32, "width": 32}}
_CONVNEXT_PROC = ("ConvNextImageProcessor", {"size": {"shortest_edge": 32}, "crop_pct": 0.875})

MODELS: dict[str, tuple[str, str, dict, str, dict]] = {
    "deit-tiny-classifier": ("DeiTConfig", "DeiTForImageClassification", _VIT_LIKE,
                             "DeiTImageProcessor", {"size": {"height": 36, "width": 36}, **_CROP32}),
    "deit-distilled-tiny-classifier": ("DeiTConfig", "DeiTForImageClassificationWithTeacher", _VIT_LIKE,
                                       "DeiTImageProcessor", {"size": {"height": 40, "width": 40}, **_CROP32}),
    "beit-tiny-classifier": ("BeitConfig", "BeitForImageClassification", {**_VIT_LIKE, "use_mean_pooling": True},
                             "BeitImageProcessor", {"size": {"height": 36, "width": 36}, **_CROP32}),
    "swin-tiny-classifier": ("SwinConfig", "SwinForImageClassification",
                             dict(image_size=32, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 2],
                                  window_size=4),
                             "ViTImageProcessor", {"size": {"height": 32, "width": 32}}),
    "swinv2-tiny-classifier": ("Swinv2Config", "Swinv2ForImageClassification",
                               dict(image_size=32, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 2],
                                    window_size=4),
                               "ViTImageProcessor", {"size": {"height": 32, "width": 32}, "resample": 3}),
    "convnextv2-tiny-classifier": ("ConvNextV2Config", "ConvNextV2ForImageClassification",
                                   dict(num_channels=3, patch_size=4, num_stages=2, hidden_sizes=[16, 32],
                                        depths=[1, 1], image_size=32), *_CONVNEXT_PROC),
    "resnet-tiny-classifier": ("ResNetConfig", "ResNetForImageClassification",
                               dict(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], layer_type="basic"),
                               *_CONVNEXT_PROC),
    "regnet-tiny-classifier": ("RegNetConfig", "RegNetForImageClassification",
                               dict(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], groups_width=8),
                               *_CONVNEXT_PROC),
    "mobilenet-v1-tiny-classifier": ("MobileNetV1Config", "MobileNetV1ForImageClassification",
                                     dict(image_size=32, depth_multiplier=0.25, min_depth=8, initializer_range=0.5),
                                     "MobileNetV1ImageProcessor", {"size": {"shortest_edge": 36}, **_CROP32}),
    "mobilenet-v2-tiny-classifier": ("MobileNetV2Config", "MobileNetV2ForImageClassification",
                                     dict(image_size=32, depth_multiplier=0.25, min_depth=8, initializer_range=0.3),
                                     "MobileNetV2ImageProcessor", {"size": {"shortest_edge": 34}, **_CROP32}),
    "efficientnet-tiny-classifier": ("EfficientNetConfig", "EfficientNetForImageClassification",
                                     dict(image_size=32, width_coefficient=0.25, depth_coefficient=0.25,
                                          hidden_dim=320, initializer_range=0.6),  # 0.2: features vanish
                                     "EfficientNetImageProcessor", {"size": {"height": 36, "width": 36},
                                                                    "do_center_crop": True, **_CROP32}),
    "mobilevit-tiny-classifier": ("MobileViTConfig", "MobileViTForImageClassification",
                                  dict(image_size=32, patch_size=2, hidden_sizes=[16, 24, 32],
                                       neck_hidden_sizes=[8, 8, 16, 16, 24, 32, 64], num_attention_heads=2,
                                       initializer_range=0.5),
                                  "MobileViTImageProcessor", {"size": {"shortest_edge": 34}, **_CROP32}),
    "mobilevitv2-tiny-classifier": ("MobileViTV2Config", "MobileViTV2ForImageClassification",
                                    dict(image_size=64, patch_size=2, width_multiplier=0.25),
                                    "MobileViTImageProcessor", {"size": {"shortest_edge": 68},
                                                                "crop_size": {"height": 64, "width": 64}}),
    "dinov2-tiny-classifier": ("Dinov2Config", "Dinov2ForImageClassification", _VIT_LIKE,
                               "BitImageProcessor", {"size": {"shortest_edge": 36}, **_CROP32}),
    "levit-tiny-classifier": ("LevitConfig", "LevitForImageClassification",
                              dict(image_size=32, patch_size=16, hidden_sizes=[16, 32, 48], num_attention_heads=[1, 2, 3],
                                   depths=[1, 1, 1], key_dim=[8, 8, 8], drop_path_rate=0.0,
                                   down_ops=[["Subsample", 8, 1, 4, 2, 2], ["Subsample", 8, 2, 4, 2, 2]]),
                              "LevitImageProcessor", {"size": {"shortest_edge": 28}, **_CROP32}),
    "poolformer-tiny-classifier": ("PoolFormerConfig", "PoolFormerForImageClassification",
                                   dict(hidden_sizes=[16, 24, 32, 48], depths=[1, 1, 1, 1]),
                                   "PoolFormerImageProcessor", {"size": {"shortest_edge": 32}, "crop_pct": 0.9,
                                                                **_CROP32}),
}


def build(name: str, out: Path, seed: int) -> None:
    import torch
    import transformers

    config_cls, model_cls, config_kw, proc_cls, proc_kw = MODELS[name]
    torch.manual_seed(seed)
    cfg = getattr(transformers, config_cls)(**{"initializer_range": 0.2, "id2label": IMAGE_LABELS,
                                               "label2id": {v: k for k, v in IMAGE_LABELS.items()}, **config_kw})
    model = getattr(transformers, model_cls)(cfg).eval()
    processor = getattr(transformers, proc_cls)(**proc_kw)
    _spread_logits(model, processor, torch)
    model.save_pretrained(str(out), safe_serialization=True)
    processor.save_pretrained(str(out))


def _spread_logits(model, processor, torch) -> None:
    """Centre and scale the classifier layers so that random pictures get logits that differ between
    pictures (standard deviation 2 around each class's mean): tiny random nets otherwise give one label to
    every picture, or near-uniform scores whose order is noise."""
    import numpy as np

    rng = np.random.default_rng(0)
    pics = [rng.integers(0, 255, (40 + 7 * i, 50 - 5 * i, 3)).astype(np.uint8) for i in range(6)]
    x = torch.from_numpy(processor(pics, return_tensors="np")["pixel_values"])
    heads = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == model.config.num_labels]
    seen: dict = {}
    hooks = [h.register_forward_hook(lambda mod, args, out: seen.__setitem__(mod, out.detach())) for h in heads]
    with torch.no_grad():
        model(pixel_values=x)
        for h in hooks:
            h.remove()
        for head in heads:
            out = seen[head]
            mean, spread = out.mean(0), float((out - out.mean(0)).std())
            if not 1e-4 < spread < 1e4:
                raise ValueError(f"{type(model).__name__}: random logits spread {spread}; change its tiny config")
            head.weight.mul_(2.0 / spread)
            if head.bias is not None:
                head.bias.sub_(mean).mul_(2.0 / spread)


define_builders(globals(), MODELS, build)
