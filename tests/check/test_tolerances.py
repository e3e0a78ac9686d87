"""Tolerances that scale with the reference: atol is relative to S = max(1, max |ref|) of each output, so
fp32 round-off on large logits passes while an error of a fraction of the output's scale still fails."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgetool.check.compare import compare, tensor_stats, thresholds_for


def _logits(scale: float = 30.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 5, 64)) * scale / 3).astype(np.float32)
    x[0, 0, 0] = 0.0  # an element near zero: a plain absolute atol binds exactly there
    return x


def test_round_off_on_large_logits_passes_only_when_scaled():
    ref = _logits()
    got = ref.copy()
    got[0, 0, 0] += 3.4e-4  # the T5 case: max abs 3.4e-4 > atol 1e-4 on logits of size ~30
    th = thresholds_for("summarization", "fp32")
    assert th.scaled
    s = tensor_stats(ref, got, th, "decoder", "logits")
    assert s["passed"] and s["max_abs"] > th.atol and s["scaled"] < 1e-4
    plain = tensor_stats(ref, got, dataclasses.replace(th, scaled=False), "decoder", "logits")
    assert not plain["passed"]


@pytest.mark.parametrize("error", [0.01, 0.003])
def test_a_fraction_of_the_scale_still_fails(error):
    ref = _logits()
    got = ref.copy()
    scale = float(np.abs(ref).max())
    got[1, 2, 3] += error * scale
    s = tensor_stats(ref, got, thresholds_for("summarization", "fp32"), "decoder", "logits")
    assert not s["passed"] and s["scaled"] == pytest.approx(error, rel=1e-3)


def test_small_outputs_keep_the_absolute_tolerance():
    ref = np.array([0.1, 0.5, 0.9], np.float32)  # probabilities: S = 1
    th = thresholds_for("text-classification", "fp32")
    assert tensor_stats(ref, ref + 5e-5, th)["passed"]
    assert not tensor_stats(ref, ref + np.array([0, 0, 2e-3], np.float32), th)["passed"]


@pytest.fixture(scope="module")
def big_t5(reference_dir, tmp_path_factory) -> Path:
    """The tiny T5 with logits of a trained model's size (its final norm scaled up)."""
    import torch
    from transformers import T5ForConditionalGeneration

    d = tmp_path_factory.mktemp("t5") / "ckpt"
    shutil.copytree(reference_dir("t5-tiny"), d)
    m = T5ForConditionalGeneration.from_pretrained(str(d))
    with torch.no_grad():
        m.decoder.final_layer_norm.weight.mul_(10.0)
    m.save_pretrained(str(d), safe_serialization=True)
    return d


@pytest.fixture(scope="module")
def t5_bundle(bundle_dir, big_t5):
    return bundle_dir("summarization", model=big_t5)  # export with the parity gate on: it must not raise


class _Regressed:
    """An engine whose logits are off by 1% of their scale (a real regression)."""

    def __init__(self, engine):
        self.engine = engine

    def run(self, feeds):
        out = dict(self.engine.run(feeds))
        if "logits" in out:
            out["logits"] = out["logits"] + 0.01 * float(np.abs(out["logits"]).max())
        return out


def test_fp32_t5_summarization_passes_and_a_regression_fails(t5_bundle):
    from edgetool.check import golden, parity
    from edgetool.runtime.bundle import Bundle

    import json

    b = Bundle.load(t5_bundle)
    report = json.loads((Path(t5_bundle) / "edgetool.json").read_text())["parity"]["onnxruntime/fp32"]
    assert report["passed"] is True
    logits = next(o for o in report["outputs"] if o["output"] == "logits")
    assert logits["scale"] > 1.0  # the scaled rule was in effect
    g = golden.load(b)
    engines = parity.open_group(b, "onnxruntime", "fp32")
    th = thresholds_for(b.task, "fp32")
    bad = compare(g, {k: _Regressed(e) for k, e in engines.items()}, parity.pipeline_factory(b), b.task, "fp32", th,
                  "regressed")
    assert not bad["passed"]
    assert not next(o for o in bad["outputs"] if o["output"] == "logits")["passed"]
