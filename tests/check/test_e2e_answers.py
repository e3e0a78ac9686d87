"""End-to-end parity: export stores the transformers pipeline's answers on the golden samples and compares
every artifact's runtime answers with them; `edgetool validate` does the same on the device. A planted
pre-processing bug (normalisation skipped) and a planted post-processing bug (labels swapped) pass the
graph-level check (the golden tensors are recorded through the same buggy runtime) but fail here."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cli_invoke import invoke_cli
from edgetool.check import golden as golden_io
from edgetool.runtime.bundle import Bundle
from edgetool.runtime.errors import ParityError


def _export(task: str, out: Path, **kw) -> Path:
    from edgetool.export.exporter import export
    from edgetool.export.options import ExportOptions

    return export(ExportOptions(task=task, out=out, quiet=True, **kw))


@pytest.fixture
def skip_normalize(monkeypatch):
    """A pre-processing bug: the ViT processor's normalisation step is skipped."""
    from edgetool.runtime.preprocess.classify_image import ClassifyProcessor

    real = ClassifyProcessor.__init__

    def no_normalize(self, *a, **k):
        real(self, *a, **k)
        self.mean = None  # the normalisation step is skipped

    monkeypatch.setattr(ClassifyProcessor, "__init__", no_normalize)


@pytest.fixture
def swapped_labels(monkeypatch):
    """A post-processing bug: the classifier's labels in reverse order."""
    real = Bundle.id2label.fget

    def swapped(self):
        labels = real(self)
        ids = sorted(labels)
        return {i: labels[j] for i, j in zip(ids, reversed(ids))}

    monkeypatch.setattr(Bundle, "id2label", property(swapped))


def test_export_stores_and_checks_the_transformers_answers(bundle_dir):
    root = bundle_dir("text-classification")
    g = golden_io.load(Bundle.load(root))
    assert g.e2e["status"] == "ok" and g.e2e["source"].startswith("transformers ")
    assert len(g.e2e["results"]) == len(g.samples) and g.e2e["results"][0][0]["label"]  # a real answer
    answers = json.loads((root / "edgetool.json").read_text())["parity"]["onnxruntime/fp32"]["answers"]
    assert answers["passed"] is True and answers["judged_by"] == "fields" and answers["samples"] == len(g.samples)


def test_a_task_without_a_pipeline_says_so(bundle_dir):
    from edgetool.check.compare import format_report

    report = json.loads((bundle_dir("multiple-choice") / "edgetool.json").read_text())["parity"]["onnxruntime/fp32"]
    assert report["answers"]["status"] == "no-pipeline" and report["answers"]["passed"] is None
    assert report["passed"] is True
    assert "no 'multiple-choice' pipeline" in format_report(report)


@pytest.mark.parametrize("bug,task,field", [("skip_normalize", "image-classification", "score"),
                                             ("swapped_labels", "text-classification", "label")])
def test_a_planted_bug_fails_the_export(request, tmp_path, bug, task, field):
    request.getfixturevalue(bug)
    out = tmp_path / "b"
    with pytest.raises(ParityError) as e:
        _export(task, out)
    text = str(e.value)
    # some sample's field differs (which one depends on the tiny model: a swap of 3 labels keeps the middle one)
    assert "end-to-end vs transformers" in text and re.search(rf"sample \d+ \S*\b{field}: expected", text), text
    assert not out.exists() and not [p for p in tmp_path.iterdir()]  # nothing written, no staging left
    assert _export(task, out, check_parity=False).is_dir()  # --no-parity-check still writes it


@pytest.mark.parametrize("bug,task", [("skip_normalize", "image-classification"),
                                      ("swapped_labels", "text-classification")])
def test_a_planted_bug_fails_validate(request, bundle_dir, tmp_path, bug, task):
    root = bundle_dir(task)
    assert invoke_cli("validate", root).exit_code == 0
    request.getfixturevalue(bug)
    r = invoke_cli("validate", root, "--json", tmp_path / "r.json", "--junit", tmp_path / "r.xml")
    assert r.exit_code == 1, r.output
    assert "end-to-end vs transformers" in r.output and "FAIL" in r.output
    reports = json.loads((tmp_path / "r.json").read_text())
    assert all(rep["answers"]["passed"] is False and rep["answers"]["mismatches"] for rep in reports)
    # the graph tensors alone would not have caught it: the bug is in the runtime's processing
    assert all(o["passed"] for rep in reports for o in rep["outputs"])
    cases = [c for c in ET.parse(tmp_path / "r.xml").iter("testcase") if c.get("name").startswith("end-to-end")]
    assert cases and all(c.find("failure") is not None for c in cases)


def test_a_reference_that_raises_is_a_bad_reference(monkeypatch, tmp_path):
    from edgetool.export import e2e_reference

    real = e2e_reference.make_pipeline

    def broken(task, ckpt, threads=None):
        pipe = real(task, ckpt, threads)

        def call(*a, **k):
            raise RuntimeError("reference exploded")

        return call if pipe else None

    monkeypatch.setattr(e2e_reference, "make_pipeline", broken)
    root = _export("text-classification", tmp_path / "b")  # not a parity failure: the bundle is written
    report = json.loads((root / "edgetool.json").read_text())["parity"]["onnxruntime/fp32"]
    assert report["answers"]["status"] == "bad-reference" and "reference exploded" in report["answers"]["note"]
    assert report["passed"] is True
