"""The classification image processors (runtime/preprocess/classify_image.py) against each transformers
processor class: pixel tensors <= 1e-5 on odd sizes and modes, every setting the class reads is known to
its Spec, and a setting the runtime cannot reproduce is refused with its key and value."""
from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
from PIL import Image

from edgetool.runtime.errors import UnsupportedError
from edgetool.runtime.preprocess.classify_image import NEUTRAL_KEYS, SPECS
from edgetool.runtime.preprocess.image import image_processor, load_image


def _inputs() -> list[Image.Image]:
    rng = np.random.default_rng(5)
    rgb = [rng.integers(0, 255, s).astype(np.uint8) for s in ((37, 53, 3), (70, 45, 3), (9, 120, 3), (131, 17, 3),
                                                               (64, 64, 3))]
    pics = [Image.fromarray(a) for a in rgb]
    return pics + [pics[0].convert("L"), pics[1].convert("RGBA"), pics[2].convert("P")]


# (processor class, kwargs): defaults shrunk to small sizes, plus each non-default setting the class reads.
CASES = {
    "vit": ("ViTImageProcessor", {"size": {"height": 30, "width": 22}}),
    "vit-bicubic-mean": ("ViTImageProcessor", {"size": {"height": 16, "width": 16}, "resample": 3,
                                               "image_mean": [0.3, 0.4, 0.5], "image_std": [0.2, 0.3, 0.4]}),
    "vit-no-rescale": ("ViTImageProcessor", {"size": {"height": 16, "width": 16}, "do_rescale": False}),
    "deit": ("DeiTImageProcessor", {"size": {"height": 36, "width": 36}, "crop_size": {"height": 32, "width": 32}}),
    "deit-crop-bigger": ("DeiTImageProcessor", {"size": {"height": 20, "width": 28},
                                                "crop_size": {"height": 24, "width": 17}}),
    "deit-no-crop": ("DeiTImageProcessor", {"size": {"height": 24, "width": 24}, "do_center_crop": False}),
    "beit": ("BeitImageProcessor", {"size": {"height": 40, "width": 40}, "crop_size": {"height": 32, "width": 32}}),
    "bit": ("BitImageProcessor", {"size": {"shortest_edge": 36}, "crop_size": {"height": 32, "width": 32}}),
    "bit-hw": ("BitImageProcessor", {"size": {"height": 30, "width": 40}, "crop_size": {"height": 28, "width": 28},
                                     "do_normalize": False}),
    "mobilenet_v1": ("MobileNetV1ImageProcessor", {"size": {"shortest_edge": 40},
                                                   "crop_size": {"height": 32, "width": 32}}),
    "mobilenet_v2": ("MobileNetV2ImageProcessor", {"size": {"shortest_edge": 30},
                                                   "crop_size": {"height": 32, "width": 26}}),
    "efficientnet": ("EfficientNetImageProcessor", {"size": {"height": 40, "width": 40},
                                                    "crop_size": {"height": 33, "width": 33}}),
    "efficientnet-crop-offset": ("EfficientNetImageProcessor", {
        "size": {"height": 40, "width": 36}, "do_center_crop": True, "crop_size": {"height": 33, "width": 30},
        "rescale_offset": True, "rescale_factor": 1 / 127.5, "include_top": False, "resample": 2}),
    "mobilevit": ("MobileViTImageProcessor", {"size": {"shortest_edge": 28}, "crop_size": {"height": 32, "width": 32}}),
    "mobilevit-no-flip": ("MobileViTImageProcessor", {"size": {"shortest_edge": 40}, "do_flip_channel_order": False,
                                                      "crop_size": {"height": 32, "width": 32}}),
    "levit": ("LevitImageProcessor", {"size": {"shortest_edge": 32}, "crop_size": {"height": 32, "width": 32}}),
    "levit-hw": ("LevitImageProcessor", {"size": {"height": 36, "width": 30}, "crop_size": {"height": 30, "width": 30}}),
    "poolformer": ("PoolFormerImageProcessor", {"size": {"shortest_edge": 32}, "crop_size": {"height": 32, "width": 32}}),
    "poolformer-hw": ("PoolFormerImageProcessor", {"size": {"height": 30, "width": 30}, "crop_pct": 0.8,
                                                   "crop_size": {"height": 30, "width": 30}}),
    "poolformer-rect": ("PoolFormerImageProcessor", {"size": {"height": 30, "width": 24}, "crop_pct": 0.75,
                                                     "crop_size": {"height": 30, "width": 24}}),
}


def _hf(cls_name: str, kwargs: dict):
    import transformers

    return getattr(transformers, cls_name)(**kwargs)


@pytest.mark.parametrize("case", list(CASES))
def test_pixels_match_transformers(case):
    cls_name, kwargs = CASES[case]
    hp = _hf(cls_name, kwargs)
    saved = json.loads(hp.to_json_string())
    for cfg in (saved, {"image_processor_type": cls_name, **kwargs}):  # full config, and one relying on defaults
        ours = image_processor(cfg)
        for pic in _inputs():
            a = ours([load_image(pic)])["pixel_values"]
            b = hp(pic.convert("RGB"), return_tensors="np")["pixel_values"]
            assert a.shape == b.shape, (case, pic.mode, pic.size, a.shape, b.shape)
            assert np.abs(a - b).max() <= 1e-5, (case, pic.mode, pic.size, np.abs(a - b).max())


def test_deit_default_crops_256_to_224():
    """The bug this module fixes: DeiT's centre crop (size 256, crop 224) was ignored."""
    cfg = json.loads(_hf("DeiTImageProcessor", {}).to_json_string())
    assert image_processor(cfg)([np.zeros((300, 400, 3), np.uint8)])["pixel_values"].shape == (1, 3, 224, 224)


@pytest.mark.parametrize("cls_name", sorted(SPECS))
def test_every_setting_the_class_reads_is_known(cls_name):
    import transformers

    params = set(inspect.signature(getattr(transformers, cls_name).__init__).parameters) - {"self", "kwargs"}
    unknown = params - SPECS[cls_name].keys - NEUTRAL_KEYS
    assert not unknown, f"{cls_name} reads {sorted(unknown)}, which its Spec does not implement"


@pytest.mark.parametrize("cfg, key", [
    ({"image_processor_type": "DeiTImageProcessor", "size": {"shortest_edge": 224}}, "size"),
    ({"image_processor_type": "BitImageProcessor", "size": {"shortest_edge": 224, "longest_edge": 300}}, "size"),
    ({"image_processor_type": "MobileViTImageProcessor", "crop_size": {"shortest_edge": 20}}, "crop_size"),
    ({"image_processor_type": "ViTImageProcessor", "resample": 9}, "resample"),
    ({"image_processor_type": "LevitImageProcessor", "image_mean": [0.5, 0.5]}, "image_mean"),
    ({"image_processor_type": "SiglipImageProcessor"}, "image_processor_type"),
])
def test_unimplemented_settings_are_refused_by_name(cfg, key):
    with pytest.raises(UnsupportedError, match=f"{key}="):
        image_processor(cfg)
