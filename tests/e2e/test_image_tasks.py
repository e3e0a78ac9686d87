"""image-classification and image-to-text end to end, against the transformers pipelines (PIL
processors) on the same weights, on ONNX Runtime and OpenVINO; image loading edge cases."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from edgetool.export.families.vision import sample_images
from edgetool.runtime import pipeline
from edgetool.runtime.errors import UsageError
from edgetool.runtime.preprocess.image import image_processor, load_image

BACKENDS = ["onnxruntime", "openvino"]


def images():
    return [Image.fromarray(a) for a in sample_images()]


@pytest.fixture(scope="module")
def hf(reference_dir):
    from transformers import pipeline as hf_pipeline

    return {
        "image-classification": hf_pipeline("image-classification", model=str(reference_dir("vit-tiny-classifier"))),
        "image-to-text": hf_pipeline("image-to-text", model=str(reference_dir("vit-gpt2-tiny"))),
    }


@pytest.mark.family("image-classification", "vit")
@pytest.mark.parametrize("backend", BACKENDS)
def test_image_classification_matches_pipeline(bundle_dir, hf, backend):
    ours = pipeline(bundle_dir("image-classification", target="openvino"), backend=backend)
    for kw in ({}, {"top_k": 2}, {"top_k": 99}, {"function_to_apply": "sigmoid"}):
        a, b = ours(images(), **kw), hf["image-classification"](images(), **kw)
        assert len(a) == len(b)
        for ra, rb in zip(a, b):
            assert [x["label"] for x in ra] == [y["label"] for y in rb]
            assert max(abs(x["score"] - y["score"]) for x, y in zip(ra, rb)) < 1e-5
    single = ours(images()[0])
    assert isinstance(single, list) and isinstance(single[0], dict)


@pytest.mark.family("image-to-text", "vision-encoder-decoder")
@pytest.mark.parametrize("backend", BACKENDS)
def test_image_to_text_matches_pipeline(bundle_dir, hf, backend):
    ours = pipeline(bundle_dir("image-to-text", target="openvino"), backend=backend)
    for kw in ({"max_new_tokens": 12}, {"max_new_tokens": 8, "generate_kwargs": {"num_beams": 3}}):
        assert ours(images(), **kw) == hf["image-to-text"](images(), **kw)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("beams", [1, 3])
def test_image_to_text_ids_equal_generate(bundle_dir, reference_dir, backend, beams):
    from transformers import VisionEncoderDecoderModel, ViTImageProcessor

    from edgetool.runtime.generation import generate

    path = str(reference_dir("vit-gpt2-tiny"))
    model = VisionEncoderDecoderModel.from_pretrained(path).eval()
    pv = ViTImageProcessor.from_pretrained(path)(images()[1], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        ref = model.generate(pixel_values=pv, max_new_tokens=32, num_beams=beams, do_sample=False)[0].tolist()
    pipe = pipeline(bundle_dir("image-to-text", target="openvino"), backend=backend)
    feats = pipe.processor([load_image(images()[1])])
    assert np.abs(feats["pixel_values"] - pv.numpy()).max() < 1e-6
    cfg = pipe.generation_config(max_new_tokens=32, num_beams=beams, do_sample=False)
    ours = generate(pipe.model, feats, np.array([[cfg.decoder_start_token_id]]), cfg)
    assert ours[0].tolist() == ref and len(ref) > 20


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "RGB"])
def test_image_modes_decode_like_transformers(mode, tmp_path):
    from transformers.image_utils import load_image as hf_load

    rgb = Image.fromarray(sample_images()[1])
    img = rgb.convert(mode) if mode != "I;16" else Image.fromarray((np.asarray(rgb.convert("L"), np.uint16) * 257))
    path = tmp_path / "x.png"
    if mode == "CMYK":
        path = tmp_path / "x.jpg"
        img.save(path, quality=95)
    else:
        img.save(path)
    ours = load_image(str(path))
    assert ours.shape == (rgb.height, rgb.width, 3) and ours.dtype == np.uint8
    if mode != "I;16":  # transformers clips 16-bit grey to white; we scale it
        np.testing.assert_array_equal(ours, np.asarray(hf_load(str(path)).convert("RGB")))
    else:
        np.testing.assert_allclose(ours[..., 0], np.asarray(rgb.convert("L")), atol=1)


def test_exif_orientation_applied(tmp_path):
    img = Image.fromarray(sample_images()[0])  # 37 x 53
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    path = tmp_path / "rot.jpg"
    img.save(path, exif=exif)
    assert load_image(str(path)).shape[:2] == (53, 37)


def test_arrays_hwc_chw_float_gray():
    a = sample_images()[1]
    np.testing.assert_array_equal(load_image(a.transpose(2, 0, 1)), a)
    np.testing.assert_array_equal(load_image(a.astype(np.float32) / 255.0), a)
    assert load_image(a[:, :, 0]).shape == a.shape


@pytest.mark.parametrize("bad,match", [
    (b"", "empty"),
    (b"this is not an image at all", "not an image"),
    (_png(Image.new("RGB", (64, 64)))[:60], "truncated or corrupt"),
    (np.zeros((0, 3, 3), np.uint8), "empty"),
    (np.zeros((2, 2, 2, 2, 3), np.uint8), "HxW"),
    (np.full((4, 4, 3), np.nan, np.float32), "NaN"),
    (12, "Expected an image"),
    ("/no/such/file.png", "does not exist"),
])
def test_bad_images_are_clear_errors(bad, match):
    with pytest.raises(UsageError, match=match):
        load_image(bad)


def test_tiny_and_huge_images(bundle_dir):
    clf = pipeline(bundle_dir("image-classification"))
    assert len(clf(np.zeros((1, 1, 3), np.uint8), top_k=1)) == 1
    big = Image.new("RGB", (10000, 10000), (200, 30, 30))
    assert clf(big, top_k=1)[0]["label"]
    mixed = clf([np.zeros((5, 90, 3), np.uint8), sample_images()[0]], top_k=1)
    assert len(mixed) == 2


def test_processor_matches_transformers_on_odd_sizes(reference_dir):
    from transformers import ViTImageProcessor

    import json

    cfg = json.loads((reference_dir("vit-tiny-classifier") / "preprocessor_config.json").read_text())
    theirs = ViTImageProcessor(**{k: v for k, v in cfg.items() if k != "image_processor_type"})
    ours = image_processor(cfg)
    for img in sample_images() + [np.random.default_rng(1).integers(0, 255, (480, 640, 3)).astype(np.uint8)]:
        ref = theirs(Image.fromarray(img), return_tensors="np")["pixel_values"]
        assert np.abs(ours([img])["pixel_values"] - ref).max() <= 1e-6
