"""Image decoding and the image processors against transformers 4.57 (golden files, no torch).

tests/golden_data/images.json holds, per processor configuration (the preprocessor_config.json that
save_pretrained writes, as a bundle carries it), what ViT / ConvNeXT / DETR / MaskFormer / SegFormer /
GLPN / DPT image processors returned for small PNGs in several modes (RGB, L, RGBA, P, 1, EXIF-rotated),
after transformers' load_image; and torch's bilinear interpolate for the YOLO-style letterbox resize.
"""
from __future__ import annotations

import numpy as np
import pytest

from golden_support import GOLDEN, golden_arrays, golden_json

from edgetool.runtime.errors import EdgetoolError
from edgetool.runtime.preprocess.image import image_processor, load_image
from edgetool.runtime.preprocess.letterbox import bilinear_resize

DOC = golden_json("images")
PIXEL_ATOL = 1e-5


def _picture(name: str) -> np.ndarray:
    return load_image(GOLDEN / "pictures" / f"{name}.png")


def _runs():
    for case in DOC["cases"]:
        for run in case["runs"]:
            yield pytest.param(case, run, id=f"{case['name']}-{'+'.join(run['pictures'])}")


@pytest.mark.parametrize("name", DOC["pictures"])
def test_decoding_matches_transformers_load_image(name):
    """Modes convert to RGB and EXIF orientation is applied, exactly as transformers' load_image."""
    ref = golden_arrays("images")[f"decoded/{name}"]
    ours = _picture(name)
    assert ours.dtype == np.uint8 and ours.shape == ref.shape
    assert np.array_equal(ours, ref)


@pytest.mark.parametrize("case,run", list(_runs()))
def test_processor_matches_transformers(case, run):
    processor = image_processor(case["config"])
    images = [_picture(n) for n in run["pictures"]]
    if "error" in run:  # transformers fails on this picture: the runtime refuses it with a clear error
        with pytest.raises(EdgetoolError):
            processor(images)
        return
    ours = processor(images)
    arrays = golden_arrays("images")
    assert sorted(ours) == sorted(run["outputs"])
    for name, info in run["outputs"].items():
        ref, got = arrays[info["key"]], np.asarray(ours[name])
        assert list(got.shape) == info["shape"], name
        if name == "pixel_values":
            assert got.dtype == np.float32
            if "step" in info:  # stored as a strided sample plus the sum of every element
                assert abs(float(got.astype(np.float64).sum()) - info["sum"]) <= 1e-6 * max(1.0, abs(info["sum"])) + 1e-3
                got = got.reshape(-1)[::info["step"]]
            assert np.abs(got - ref).max(initial=0.0) <= PIXEL_ATOL, name
        else:  # pixel_mask: exact
            assert np.array_equal(got, ref), name


@pytest.mark.parametrize("item", DOC["bilinear"], ids=lambda i: f"{i['picture']}-{i['height']}x{i['width']}")
def test_letterbox_resize_matches_torch_bilinear(item):
    ref = golden_arrays("images")[item["key"]]
    ours = bilinear_resize(_picture(item["picture"]), item["height"], item["width"])
    assert ours.shape == ref.shape and ours.dtype == np.float32
    assert np.abs(ours / 255.0 - ref / 255.0).max() <= PIXEL_ATOL
