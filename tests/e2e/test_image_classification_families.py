"""Every image-classification family (each reference checkpoint of each family), exported from a local checkpoint directory (a tiny random model
saved with its own family's image processor), answers like the transformers pipeline on ONNX Runtime
and OpenVINO: the same labels in the same order, scores within 1e-4."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edgetool.export.families import families_for
from edgetool.export.families.vision import sample_images
from edgetool.runtime import pipeline

TASK = "image-classification"
BACKENDS = ("onnxruntime", "openvino")
# Checked against the pipeline in their own files (test_image_tasks, test_convnext_and_processors).
ELSEWHERE = {"vit-tiny-classifier", "convnext-tiny-classifier"}
CASES = [pytest.param(a.family, r.name, id=r.name, marks=pytest.mark.family(TASK, a.family))
         for a in families_for(TASK) for r in a.references if r.name not in ELSEWHERE]


def pictures() -> list[Image.Image]:
    rng = np.random.default_rng(3)
    extra = [rng.integers(0, 255, (24, 90, 3)).astype(np.uint8), rng.integers(0, 255, (120, 31, 3)).astype(np.uint8)]
    pics = [Image.fromarray(a) for a in sample_images() + extra]
    return pics + [pics[3].convert("L")]


@pytest.fixture(scope="module")
def exported(bundle_dir, reference_dir):
    """(bundle, transformers pipeline) per reference checkpoint, built once for the module."""
    from transformers import pipeline as hf_pipeline

    cache: dict[str, tuple] = {}

    def get(name: str):
        if name not in cache:
            ckpt = reference_dir(name)
            cache[name] = (bundle_dir(TASK, target="openvino", model=ckpt), hf_pipeline(TASK, model=str(ckpt)))
        return cache[name]

    return get


@pytest.mark.parametrize("family, name", CASES)
def test_family_matches_transformers_pipeline(exported, family, name):
    bundle, hf = exported(name)
    expected = [hf(pictures(), **kw) for kw in ({}, {"top_k": 3})]
    for backend in BACKENDS:
        ours = pipeline(bundle, backend=backend)
        assert ours.bundle.family == family
        worst = 0.0
        for kw, want in zip(({}, {"top_k": 3}), expected):
            got = ours(pictures(), **kw)
            assert len(got) == len(want) == len(pictures())
            for ra, rb in zip(got, want):
                assert [x["label"] for x in ra] == [y["label"] for y in rb], (backend, kw)
                worst = max(worst, max(abs(x["score"] - y["score"]) for x, y in zip(ra, rb)))
        assert worst < 1e-4, (backend, worst)
    assert len({r[0]["label"] for r in expected[0]}) >= 2, "every picture gets one label: the test proves little"


def test_export_refuses_a_processor_setting_it_cannot_reproduce(reference_dir, tmp_path):
    """A setting the runtime's processor cannot reproduce stops the export: one line naming the key and
    value, exit 2, nothing written."""
    import json
    import shutil

    from cli_invoke import invoke_cli

    ckpt = tmp_path / "deit"
    shutil.copytree(reference_dir("deit-tiny-classifier"), ckpt)
    cfg = json.loads((ckpt / "preprocessor_config.json").read_text())
    cfg["size"] = {"shortest_edge": 36}  # DeiT's resize needs height/width
    (ckpt / "preprocessor_config.json").write_text(json.dumps(cfg))
    out = tmp_path / "bundle"
    r = invoke_cli("export", "--task", TASK, "--model", ckpt, "--target", "onnx", "--out", out)
    assert r.exit_code == 2, r.output
    assert "size={'shortest_edge': 36}" in r.output and "DeiTImageProcessor" in r.output
    assert len(r.output.strip().splitlines()[-1]) > 0 and "Traceback" not in r.output
    assert not out.exists()
