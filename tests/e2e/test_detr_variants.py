"""DETR variants, each a registry entry on DETR's graph: Table Transformer (DETR's post-processing) and
Conditional DETR (sigmoid, top-100 over queries x classes), exported from local checkpoint directories
and compared with transformers' object-detection pipeline on ONNX Runtime and OpenVINO."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edgetool.export.families.vision import sample_images
from edgetool.runtime import pipeline

TASK = "object-detection"
CASES = [pytest.param("table-transformer", "table-transformer-tiny", id="table-transformer",
                      marks=pytest.mark.family(TASK, "table-transformer")),
         pytest.param("conditional-detr", "conditional-detr-tiny", id="conditional-detr",
                      marks=pytest.mark.family(TASK, "conditional-detr"))]


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
