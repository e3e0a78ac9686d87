"""Every image-segmentation family beyond SegFormer and MaskFormer (checked in test_dense_prediction.py), each
reference checkpoint exported from a local checkpoint directory (a tiny random model saved with its own
family's image processor), answers like the transformers pipeline on ONNX Runtime and OpenVINO: the same
labels in the same order, the same masks (a pixel on a float32 tie of two logits may flip).

The bundles here are traced with TorchScript where it can trace the model (dynamo=False: a third of the
export time, so the matrix fits `make test`); Swin's and BEiT's reshaped feature maps reach the UperNet head's
adaptive pooling with sizes the TorchScript exporter cannot see, so those use the families' default, dynamo. The default dynamo export of
every reference is checked on both backends by tests/export/test_dynamo.py (make test-slow), and every export
compares itself with the pipeline's answers."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from edgetool.export.families import families_for
from edgetool.export.families.dense import dense_images
from edgetool.runtime import pipeline

TASK = "image-segmentation"
BACKENDS = ("onnxruntime", "openvino")
ELSEWHERE = {"segformer", "maskformer"}  # test_dense_prediction.py
NEEDS_DYNAMO = {"upernet-swin-tiny", "beit-segmentation-tiny"}
CASES = [pytest.param(a.family, r.name, id=r.name, marks=pytest.mark.family(TASK, a.family))  # per-pixel logits
         for a in families_for(TASK) if a.family not in ELSEWHERE and a.auto_class == "AutoModelForSemanticSegmentation"
         for r in a.references]


def pictures() -> list[Image.Image]:
    """The golden pictures, a wide and a tall one of odd sizes, and a grey one."""
    rng = np.random.default_rng(5)
    extra = [np.kron(rng.integers(0, 255, (5, 11, 3)), np.ones((7, 9, 1))).astype(np.uint8),
             rng.integers(0, 255, (101, 33, 3)).astype(np.uint8)]
    pics = [Image.fromarray(a) for a in dense_images() + extra]
    return pics + [pics[0].convert("L")]


@pytest.fixture(scope="module")
def exported(bundle_dir, reference_dir):
    """(bundle, transformers pipeline) per reference checkpoint, built once for the module."""
    from transformers import pipeline as hf_pipeline

    cache: dict[str, tuple] = {}

    def get(name: str):
        if name not in cache:
            ckpt = reference_dir(name)
            # (Mask2Former's graph is pinned to dynamo whatever is asked: dynamo=False checks the pin holds.)
            cache[name] = (bundle_dir(TASK, target="openvino", model=ckpt,
                                     dynamo=None if name in NEEDS_DYNAMO else False), hf_pipeline(TASK, model=str(ckpt)))
        return cache[name]

    return get


def mask_mismatch(a: list, b: list) -> int:
    """Pixels whose mask differs, after checking both give the same labels and (None) scores in order."""
    assert [d["label"] for d in a] == [d["label"] for d in b]
    assert [d["score"] for d in a] == [d["score"] for d in b]
    for d in a + b:
        assert d["mask"].mode == "L" and set(np.unique(np.asarray(d["mask"]))) <= {0, 255}
    return sum(int((np.asarray(x["mask"]) != np.asarray(y["mask"])).sum()) for x, y in zip(a, b))


@pytest.mark.parametrize("family, name", CASES)
def test_semantic_family_matches_transformers_pipeline(exported, family, name):
    bundle, hf = exported(name)
    pics = pictures()
    want = [hf(p) for p in pics]  # one at a time, the pipeline's way (its default subtask: semantic)
    total = sum(p.width * p.height for p in pics)
    for backend in BACKENDS:
        ours = pipeline(bundle, backend=backend)
        assert ours.bundle.family == family
        got = ours(pics)
        assert len(got) == len(pics)
        wrong = 0
        for pic, ra, rb in zip(pics, got, want):
            assert all(d["mask"].size == pic.size for d in ra)
            wrong += mask_mismatch(ra, rb)
        assert wrong <= 1e-4 * total, (backend, wrong, total)
        assert mask_mismatch(ours(pics[1], subtask="semantic"), want[1]) <= 1e-4 * total
    assert max(len(r) for r in want) >= 3, "the reference should find several classes, or masks prove little"


REFUSALS = [  # (reference, a processor setting the runtime cannot reproduce, what the error names)
    ("upernet-convnext-tiny", {"size": {"shortest_edge": 64}}, "size={'shortest_edge': 64}"),
    ("mobilevit-deeplabv3-tiny", {"size": {"longest_edge": 64}}, "size={'longest_edge': 64}"),
    ("dpt-segmentation-tiny", {"size": {"shortest_edge": 32}}, "size={'shortest_edge': 32}"),
    ("beit-segmentation-tiny", {"resample": 9}, "resample=9"),
]


@pytest.mark.parametrize("name, change, named", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_export_refuses_a_processor_setting_it_cannot_reproduce(reference_dir, tmp_path, name, change, named):
    """One line naming the key and value, exit 2, nothing written."""
    from cli_invoke import invoke_cli

    ckpt = tmp_path / "ckpt"
    shutil.copytree(reference_dir(name), ckpt)
    cfg = json.loads((ckpt / "preprocessor_config.json").read_text())
    (ckpt / "preprocessor_config.json").write_text(json.dumps({**cfg, **change}))
    out = tmp_path / "bundle"
    r = invoke_cli("export", "--task", TASK, "--model", ckpt, "--target", "onnx", "--out", out)
    assert r.exit_code == 2, r.output
    assert named in r.output and cfg["image_processor_type"] in r.output, r.output
    assert "Traceback" not in r.output
    assert not out.exists()


MASK_OPTIONS = [{}, {"subtask": "semantic"}, {"threshold": 0.5, "overlap_mask_area_threshold": 0.3},
                {"subtask": "panoptic", "mask_threshold": 0.3}, {"subtask": "instance", "threshold": 0.5}]


@pytest.mark.slow
@pytest.mark.family(TASK, "mask2former")
def test_mask2former_matches_transformers_pipeline(exported):
    """Universal segmentation: the default subtask (panoptic), instance, semantic and changed thresholds, on both
    backends, against the pipeline (Mask2Former's post-processing resizes the mask logits to 384 x 384 first).
    Instance scores average mask probabilities over the pixels whose logit is > 0, so the engines' small logit
    differences move them by up to ~2e-5 (OpenVINO); the tolerance is the classification families' 1e-4.
    Slow (make test-slow): only the dynamo exporter keeps the pixel decoder's sizes symbolic, and its export of
    even the tiny model takes minutes on a busy 2-core machine."""
    bundle, hf = exported("mask2former-tiny")
    pics = pictures()[:4]
    want = {i: [hf(p, **kw) for p in pics] for i, kw in enumerate(MASK_OPTIONS)}
    counts = [len(r) for rs in want.values() for r in rs]
    assert 0 < max(counts) and min(len(r) for r in want[0]) >= 2, "several segments per picture, or masks prove little"
    for backend in BACKENDS:
        ours = pipeline(bundle, backend=backend)
        assert ours.bundle.family == "mask2former"
        wrong = total = 0
        for i, kw in enumerate(MASK_OPTIONS):
            for pic, rb in zip(pics, want[i]):
                ra = ours(pic, **kw)
                assert [d["label"] for d in ra] == [d["label"] for d in rb], (backend, kw)
                assert [d["score"] is None for d in ra] == [d["score"] is None for d in rb]
                assert max((abs(x["score"] - y["score"]) for x, y in zip(ra, rb) if x["score"] is not None),
                           default=0) <= 1e-4, (backend, kw)
                wrong += sum(int((np.asarray(x["mask"]) != np.asarray(y["mask"])).sum()) for x, y in zip(ra, rb))
                total += pic.width * pic.height * max(1, len(ra))
        assert wrong <= 1e-3 * total, (backend, wrong, total)


def test_mask2former_processor_pixel_parity():
    from transformers import Mask2FormerImageProcessor

    from edgetool.runtime.preprocess.image import image_processor, load_image

    for hp in (Mask2FormerImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}, size_divisor=32),
               Mask2FormerImageProcessor(size={"shortest_edge": 40, "longest_edge": 200}, size_divisor=0, resample=3)):
        ours = image_processor(json.loads(hp.to_json_string()))
        pics = [p.convert("RGB") for p in pictures()]
        for pic in pics:
            a, b = ours([load_image(pic)])["pixel_values"], hp(pic, return_tensors="np")["pixel_values"]
            assert a.shape == b.shape and np.abs(a - b).max() <= 1e-5
        a, b = ours([load_image(p) for p in pics]), hp(pics, return_tensors="np")
        assert np.abs(a["pixel_values"] - b["pixel_values"]).max() <= 1e-5
        np.testing.assert_array_equal(a["pixel_mask"], b["pixel_mask"])
