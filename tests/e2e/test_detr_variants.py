"""DETR variants, each a registry entry: Table Transformer and YOLOS (DETR's post-processing), Conditional
DETR (sigmoid, top-100 over queries x classes), RT-DETR v1/v2 and D-FINE (sigmoid, top k = queries over
queries x classes); exported from local checkpoint directories and compared with transformers' object-detection
pipeline on ONNX Runtime and OpenVINO. YOLOS's and RT-DETR's processors against transformers', and the
settings they cannot reproduce stopping the export."""
from __future__ import annotations

import numpy as np
import pytest
from export_support import assert_setting_refused
from PIL import Image

from edgetool.export.families.vision import sample_images
from edgetool.runtime import pipeline

TASK = "object-detection"
CASES = [pytest.param("table-transformer", "table-transformer-tiny", id="table-transformer",
                      marks=pytest.mark.family(TASK, "table-transformer")),
         pytest.param("conditional-detr", "conditional-detr-tiny", id="conditional-detr",
                      marks=pytest.mark.family(TASK, "conditional-detr")),
         pytest.param("yolos", "yolos-tiny", id="yolos", marks=pytest.mark.family(TASK, "yolos")),
         pytest.param("rt-detr", "rt-detr-tiny", id="rt-detr", marks=pytest.mark.family(TASK, "rt-detr")),
         pytest.param("rt-detr", "rt-detr-v2-tiny", id="rt-detr-v2"),
         pytest.param("d-fine", "d-fine-tiny", id="d-fine", marks=pytest.mark.family(TASK, "d-fine")),
         pytest.param("deformable-detr", "deformable-detr-tiny", id="deformable-detr",
                      marks=pytest.mark.family(TASK, "deformable-detr"))]


def _same(a, b, tol=1e-4):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert (x["label"], x["box"]) == (y["label"], y["box"]), (x, y)
        assert abs(x["score"] - y["score"]) < tol


@pytest.mark.parametrize("family, name", CASES)
def test_detr_variant_matches_transformers_pipeline(bundle_dir, reference_dir, family, name):
    from transformers import pipeline as hf_pipeline

    ckpt = reference_dir(name)
    bundle, hf = bundle_dir(TASK, target="openvino", model=ckpt), hf_pipeline(TASK, model=str(ckpt))
    pics = [Image.fromarray(a) for a in sample_images()]
    scores = [d["score"] for r in hf(pics, threshold=0.0) for d in r]
    mid = float(np.median(scores))
    for backend in ("onnxruntime", "openvino"):
        ours = pipeline(bundle, backend=backend)
        assert ours.bundle.family == family
        for kw in ({"threshold": 0.0}, {"threshold": mid}, {}):
            for ra, rb in zip(ours(pics, **kw), hf(pics, **kw)):
                _same(ra, rb)
        assert 0 < sum(map(len, ours(pics, threshold=mid))) < sum(map(len, ours(pics, threshold=0.0)))


PROCESSOR_CASES = [
    ("YolosImageProcessor", {"size": {"shortest_edge": 48, "longest_edge": 64}}),
    ("YolosImageProcessor", {"size": {"shortest_edge": 30, "longest_edge": 100}, "resample": 3}),
    ("YolosImageProcessor", {"size": {"height": 40, "width": 56}, "do_normalize": False}),
    ("RTDetrImageProcessor", {"size": {"height": 64, "width": 64}}),
    ("RTDetrImageProcessor", {"size": {"max_height": 50, "max_width": 40}, "do_normalize": True}),
    ("RTDetrImageProcessor", {"size": {"height": 32, "width": 48}, "do_pad": True,
                              "pad_size": {"height": 40, "width": 64}}),
    ("RTDetrImageProcessor", {"size": {"shortest_edge": 30, "longest_edge": 50}, "do_normalize": True,
                              "image_mean": [0.1, 0.2, 0.3], "do_rescale": False}),
]


@pytest.mark.parametrize("kind, settings", PROCESSOR_CASES, ids=lambda v: str(v)[:40])
def test_detection_processors_match_transformers(kind, settings):
    import transformers

    from edgetool.runtime.preprocess.image import image_processor

    hf = getattr(transformers, kind)(**settings)
    ours = image_processor(hf.to_dict())
    for a in sample_images():
        want = hf(Image.fromarray(a), return_tensors="np")["pixel_values"]
        got = ours([a])
        assert set(got) == {"pixel_values"}  # neither model reads a pixel mask
        assert got["pixel_values"].shape == want.shape
        assert np.abs(got["pixel_values"] - want).max() <= 1e-5


@pytest.mark.parametrize("name, key, value", [("rt-detr-tiny", "size", {"shortest_edge": 64}),
                                              ("yolos-tiny", "do_reduce_labels", True),
                                              ("rt-detr-tiny", "pad_size", {"width": 8})])
def test_setting_the_processor_cannot_reproduce_stops_the_export(tmp_path, reference_dir, name, key, value):
    assert_setting_refused(reference_dir(name), tmp_path, TASK, key, value,
                           match=f"sets {key}={value!r}".replace("{", r"\{").replace("(", r"\("))


def test_deformable_detr_answers_at_picture_sizes_other_than_the_traced_one(bundle_dir, reference_dir):
    """The graph is traced at one size; the feature-map sizes must follow the picture (they were frozen before)."""
    import torch
    from transformers import AutoModelForObjectDetection

    from edgetool.runtime.bundle import Bundle
    from edgetool.runtime.pipelines.base import open_engines

    b = Bundle.load(bundle_dir(TASK, target="openvino", model=reference_dir("deformable-detr-tiny")))
    model = AutoModelForObjectDetection.from_pretrained(str(reference_dir("deformable-detr-tiny"))).eval()
    rng = np.random.default_rng(0)
    for name in ("onnxruntime", "openvino"):
        engine = open_engines(b, name)["model"]
        for h, w in [(70, 128), (128, 96), (200, 300)]:
            x, mask = rng.standard_normal((1, 3, h, w)).astype(np.float32), np.ones((1, h, w), np.int64)
            with torch.no_grad():
                want = model(pixel_values=torch.from_numpy(x), pixel_mask=torch.from_numpy(mask)).logits.numpy()
            got = engine.run({"pixel_values": x, "pixel_mask": mask})["logits"]
            assert np.abs(got - want).max() < 1e-4, (name, h, w)


def test_two_stage_deformable_detr_is_a_one_line_error(tmp_path, reference_dir):
    import json
    import shutil

    from cli_invoke import invoke_cli

    ckpt, out = tmp_path / "two-stage", tmp_path / "bundle"
    shutil.copytree(reference_dir("deformable-detr-tiny"), ckpt)
    cfg = json.loads((ckpt / "config.json").read_text())
    (ckpt / "config.json").write_text(json.dumps({**cfg, "two_stage": True, "with_box_refine": True}))
    r = invoke_cli("export", "--task", TASK, "--model", ckpt, "--out", out)
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.strip().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "two_stage" in lines[0] and "deformable-detr" in lines[0], r.output
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["two-stage"]
