"""ConvNeXT image classification against transformers' pipeline on ONNX Runtime and OpenVINO, and the
runtime's pixel tensors against each transformers image processor the vision tasks use (RGB, grayscale,
RGBA and palette inputs, odd and extreme sizes) to <= 1e-5."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from edgetool.export.families.vision import sample_images
from edgetool.runtime import pipeline
from edgetool.runtime.preprocess.image import image_processor, load_image

BACKENDS = ["onnxruntime", "openvino"]
TASK = "image-classification"


@pytest.fixture(scope="module")
def convnext(bundle_dir):
    return bundle_dir(TASK, target="openvino", reference="convnext-tiny-classifier")


@pytest.fixture(scope="module")
def hf_convnext(reference_dir):
    from transformers import pipeline as hf_pipeline

    return hf_pipeline(TASK, model=str(reference_dir("convnext-tiny-classifier")))


def pictures() -> list[Image.Image]:
    rng = np.random.default_rng(3)
    extra = [rng.integers(0, 255, (24, 90, 3)).astype(np.uint8), rng.integers(0, 255, (120, 31, 3)).astype(np.uint8)]
    return [Image.fromarray(a) for a in sample_images() + extra]


@pytest.mark.family("image-classification", "convnext")
@pytest.mark.parametrize("backend", BACKENDS)
def test_convnext_matches_transformers_pipeline(convnext, hf_convnext, backend):
    ours = pipeline(convnext, backend=backend)
    assert type(ours.head.processor).__name__ == "ConvNextProcessor"
    worst = 0.0
    for kw in ({}, {"top_k": 2}, {"function_to_apply": "sigmoid"}):
        a, b = ours(pictures(), **kw), hf_convnext(pictures(), **kw)
        assert len(a) == len(b) == len(pictures())
        for ra, rb in zip(a, b):
            assert [x["label"] for x in ra] == [y["label"] for y in rb]
            worst = max(worst, max(abs(x["score"] - y["score"]) for x, y in zip(ra, rb)))
    assert worst < 1e-5, worst
    assert len({r[0]["label"] for r in ours(pictures())}) >= 2, "all pictures get one label: the test proves little"


def _inputs() -> list[Image.Image]:
    rng = np.random.default_rng(4)
    rgb = [rng.integers(0, 255, s).astype(np.uint8) for s in ((37, 53, 3), (70, 45, 3), (5, 300, 3), (400, 21, 3),
                                                               (2, 3, 3), (64, 64, 3))]
    pics = [Image.fromarray(a) for a in rgb]
    return pics + [pics[0].convert("L"), pics[1].convert("RGBA"), pics[2].convert("P"), pics[3].convert("LA")]


def _processors():
    from transformers import ConvNextImageProcessor, DetrImageProcessor, ViTImageProcessor

    return {
        "vit-32": ViTImageProcessor(size={"height": 32, "width": 32}),
        "vit-bicubic-odd": ViTImageProcessor(size={"height": 45, "width": 27}, resample=3, image_mean=[0.4, 0.5, 0.6],
                                             image_std=[0.2, 0.25, 0.3]),
        "convnext-crop": ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=0.875),
        "convnext-crop-bicubic": ConvNextImageProcessor(size={"shortest_edge": 48}, crop_pct=0.6, resample=3),
        "convnext-warp": ConvNextImageProcessor(size={"shortest_edge": 384}),
        "detr": DetrImageProcessor(size={"shortest_edge": 48, "longest_edge": 64}),
        "detr-no-normalize": DetrImageProcessor(size={"shortest_edge": 40, "longest_edge": 100}, do_normalize=False),
    }


@pytest.mark.parametrize("name", list(_processors()))
def test_processor_pixel_parity(name):
    hp = _processors()[name]
    ours = image_processor(json.loads(hp.to_json_string()))
    for pic in _inputs():
        if min(pic.size) < 3 and pic.mode == "RGB" and 3 in pic.size:
            continue  # transformers cannot tell the channel axis of a 2x3 RGB array; ours is exercised below
        a = ours([load_image(pic)])["pixel_values"]
        b = hp(pic.convert("RGB"), return_tensors="np")["pixel_values"]  # the pipelines convert to RGB first
        assert a.shape == b.shape and np.abs(a - b).max() <= 1e-5, (name, pic.mode, pic.size)
    tiny = ours([np.full((2, 3, 3), 90, np.uint8)])["pixel_values"]
    assert np.isfinite(tiny).all() and tiny.shape[0] == 1


def test_convnext_center_crop_pads_like_transformers():
    from transformers.image_transforms import center_crop as hf_center_crop

    from edgetool.runtime.preprocess.convnext_image import center_crop

    img = np.random.default_rng(0).integers(0, 255, (7, 10, 3)).astype(np.uint8)
    for size in ((4, 4), (7, 10), (9, 13), (12, 5), (3, 11)):
        ref = hf_center_crop(img, size, input_data_format="channels_last")
        np.testing.assert_array_equal(center_crop(img, *size), ref)


def test_validate_convnext_bundle(convnext, tmp_path):
    from cli_invoke import invoke_cli

    r = invoke_cli("validate", convnext, "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    rows = json.loads((tmp_path / "r.json").read_text())
    assert [row["artifact"] for row in rows] == ["onnxruntime/fp32", "openvino/fp32"]
    assert all(row["passed"] and row["metric"]["name"] == "label_agreement" for row in rows)
