"""`edgetool validate` and `edgetool bench` on every implemented task's reference bundle (ONNX + OpenVINO IR).

The task list comes from the registry, so a new task is covered without touching this file. Structure and
parity verdicts are asserted; timings belong in benchmarks/."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from cli_invoke import invoke_cli as run

from edgetool.runtime.tasks import REGISTRY

IMPLEMENTED = sorted(name for name, spec in REGISTRY.items() if spec.implemented)


@pytest.mark.parametrize("task", IMPLEMENTED)
def test_validate_every_artifact_and_cross_engine(bundle_dir, task, tmp_path):
    bundle = bundle_dir(task, target="openvino")
    report, junit = tmp_path / "r.json", tmp_path / "r.xml"
    r = run("validate", bundle, "--json", report, "--junit", junit)
    assert r.exit_code == 0, r.output
    rows = json.loads(report.read_text())
    assert [row["artifact"] for row in rows] == ["onnxruntime/fp32", "openvino/fp32"]
    for row in rows:
        assert row["reference"] == "golden" and row["passed"] is True and row["samples"] >= 1
        assert row["outputs"] and all(out["passed"] for out in row["outputs"])
        assert row["metric"]["passed"] is True and row["metric"]["name"] == REGISTRY[task].metric
    suites = ET.parse(junit).getroot()
    cases = suites.findall(".//testcase")
    assert len(cases) >= 2 * 2 and not suites.findall(".//failure") and not suites.findall(".//error")
    # OpenVINO against ONNX Runtime on the same inputs: the engine-vs-engine gate users run in CI.
    r = run("validate", bundle, "--backend", "openvino", "--against", "onnx/fp32")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("task", IMPLEMENTED)
def test_bench_every_task(bundle_dir, task, tmp_path):
    bundle = bundle_dir(task, target="openvino")
    out = tmp_path / "b.json"
    r = run("bench", bundle, "--runs", "2", "--warmup", "1", "--no-cold-start", "-q", "--json", out)
    assert r.exit_code == 0, r.output
    rep = json.loads(out.read_text())
    assert rep["task"] == task
    assert [row["name"] for row in rep["results"]] == ["onnxruntime/fp32", "openvino/fp32"]
    for row in rep["results"]:
        assert 0 < row["latency_ms"]["p50"] <= row["latency_ms"]["max"]
        assert row["size_mb"] > 0
