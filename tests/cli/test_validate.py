"""`edgetool validate` as a CI parity gate: references, user inputs, tolerances, reports, exit codes,
and --localize finding a planted fault. Text classification is the vehicle; validation is generic."""
from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from cli_invoke import invoke_cli as run

from edgetool.bundle_writer import write_manifest_digest

TASK = "text-classification"
PLANTED_NODE = "/model/bert/encoder/layer.1/attention/self/query/MatMul"


@pytest.fixture(scope="module")
def bundle(bundle_dir):
    """ONNX fp32 (run on ONNX Runtime) + OpenVINO IR fp32: two artifacts to compare. Traced with TorchScript:
    the planted node is found by its TorchScript name (dynamo names nodes after aten ops)."""
    return bundle_dir(TASK, target="openvino", dynamo=False)


def rehash(root):
    """Make an edited bundle loadable again: new sha256 of every listed file in the manifest."""
    from edgetool.runtime.bundle import sha256_file

    m = json.loads((root / "edgetool.json").read_text())
    for a in m["artifacts"]:
        a["files"] = {f: sha256_file(root / f) for f in a["files"]}
    m["files"] = {f: sha256_file(root / f) for f in m["files"]}
    (root / "edgetool.json").write_text(json.dumps(m, indent=2))
    write_manifest_digest(root)


@pytest.fixture(scope="module")
def planted(bundle, tmp_path_factory):
    """A copy whose layer-1 query projection weight was changed, re-hashed so that it loads."""
    import onnx
    from onnx import numpy_helper

    root = tmp_path_factory.mktemp("planted") / "b"
    shutil.copytree(bundle, root)
    path = root / "onnx/fp32/model.onnx"
    model = onnx.load(str(path))
    node = next(n for n in model.graph.node if n.name == PLANTED_NODE)
    weight = node.input[1]
    consumers = [n.name for n in model.graph.node if weight in n.input]
    assert consumers == [PLANTED_NODE]  # the weight is this node's alone
    for init in model.graph.initializer:
        if init.name == weight:
            w = numpy_helper.to_array(init).copy()
            w[0] += 0.5  # input feature 0 feeds every output: a visible change
            init.CopyFrom(numpy_helper.from_array(w, weight))
    onnx.save(model, str(path))
    rehash(root)
    return root, weight


def test_golden_reference_passes_every_artifact(bundle, tmp_path):
    r = run("validate", bundle, "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    assert "PARITY OK" in r.output and "model/logits" in r.output
    reports = json.loads((tmp_path / "r.json").read_text())
    assert [x["artifact"] for x in reports] == ["onnxruntime/fp32", "openvino/fp32"]
    for x in reports:
        assert x["reference"] == "golden" and x["passed"] is True and x["samples"] >= 4
        out = x["outputs"][0]
        assert out["max_abs"] < 1e-4 and out["score"] <= 1 and out["stat"] == "max"
        assert x["metric"] == {"name": "label_agreement", "value": 1.0, "floor": 1.0, "passed": True}


def test_against_another_artifact_of_the_bundle(bundle, tmp_path):
    r = run("validate", bundle, "--against", "onnx/fp32", "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    reports = json.loads((tmp_path / "r.json").read_text())
    # the reference itself is not validated against itself
    assert [(x["artifact"], x["reference"]) for x in reports] == [("openvino/fp32", "onnxruntime/fp32")]
    assert reports[0]["outputs"][0]["max_abs"] < 1e-4


def test_against_live_torch_on_user_inputs(bundle, tmp_path):
    inputs = tmp_path / "texts.txt"
    inputs.write_text("what a lovely morning\n\nthe service was slow and the food was cold\nok\n", encoding="utf-8")
    r = run("validate", bundle, "--against", "torch", "--inputs", inputs, "--backend", "onnxruntime",
            "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    (report,) = json.loads((tmp_path / "r.json").read_text())
    assert report["reference"] == "torch" and report["inputs"] == str(inputs)
    assert report["samples"] == 3  # blank lines are skipped
    assert report["outputs"][0]["calls"] == 3 and report["outputs"][0]["max_abs"] < 1e-4


def test_inputs_against_golden_is_explained(bundle, tmp_path):
    inputs = tmp_path / "texts.txt"
    inputs.write_text("hello\n", encoding="utf-8")
    r = run("validate", bundle, "--inputs", inputs)
    assert r.exit_code == 2
    assert "golden" in r.output and "--against torch" in r.output and "--against onnxruntime/fp32" in r.output


@pytest.mark.parametrize("argv,needle", [
    (["--against", "gold"], "Did you mean 'golden'"),
    (["--against", "onnx/fp8"], "unknown precision 'fp8'"),
    (["--stat", "worst"], "worst"),
    (["--atol", "tight"], "expected a number"),
    (["--inputs", "/nonexistent/texts.txt", "--against", "onnx/fp32"], "does not exist"),
])
def test_usage_errors_exit_2(bundle, argv, needle):
    r = run("validate", bundle, *argv)
    assert r.exit_code == 2 and needle in r.output, r.output


def test_tampered_file_exit_2_names_it(bundle, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(bundle, bad)
    p = bad / "onnx/fp32/model.onnx"
    p.write_bytes(p.read_bytes()[:-32])
    r = run("validate", bad)
    assert r.exit_code == 2 and "onnx/fp32/model.onnx" in r.output and "sha256" in r.output
    assert "Traceback" not in r.output


@pytest.mark.parametrize("argv", [
    ["--atol", "0", "--rtol", "0"],  # every output
    ["--atol", "logits=0", "--rtol", "model/logits=0"],  # per output (name, graph/output)
])
def test_tolerance_override_makes_it_fail(bundle, tmp_path, argv):
    r = run("validate", bundle, "--backend", "openvino", *argv, "--json", tmp_path / "r.json")
    assert r.exit_code == 1 and "PARITY FAILED" in r.output
    (report,) = json.loads((tmp_path / "r.json").read_text())
    out = report["outputs"][0]
    assert out["atol"] == 0 and out["rtol"] == 0 and out["passed"] is False and out["max_abs"] > 0


def test_metric_floor_override(bundle):
    r = run("validate", bundle, "--backend", "onnxruntime", "--metric-floor", "1.01")
    assert r.exit_code == 1 and "task metric label_agreement: 1.0000 (floor 1.01)  FAIL" in r.output


def test_stat_is_a_statistic_of_the_normalized_error(planted, bundle, tmp_path):
    root, _ = planted
    scores = {}
    for stat in ("max", "p99", "median", "mean"):
        r = run("validate", root, "--against", bundle, "--backend", "onnxruntime", "--stat", stat,
                "--json", tmp_path / f"{stat}.json")
        assert r.exit_code == 1, r.output
        (report,) = json.loads((tmp_path / f"{stat}.json").read_text())
        scores[stat] = report["outputs"][0]["score"]
        assert report["stat"] == stat
    assert scores["max"] >= scores["p99"] >= scores["median"] > 1
    assert scores["max"] >= scores["mean"]
    # tolerances loose enough for the mean error but not for the worst element: --stat decides. With rtol 0
    # the normalized error is err / (atol * scale), so the scores at atol 1 give the atol between them.
    base = ["validate", root, "--against", bundle, "--backend", "onnxruntime", "--rtol", "0", "--metric-floor", "0"]
    unit = {}
    for stat in ("max", "mean"):
        run(*base, "--atol", "1", "--stat", stat, "--json", tmp_path / f"unit-{stat}.json")
        unit[stat] = json.loads((tmp_path / f"unit-{stat}.json").read_text())[0]["outputs"][0]["score"]
    assert 0 < unit["mean"] < unit["max"]
    args = [*base, "--atol", str((unit["mean"] + unit["max"]) / 2)]
    assert run(*args, "--stat", "max").exit_code == 1
    assert run(*args, "--stat", "mean").exit_code == 0


def test_junit_report_structure(planted, bundle, tmp_path):
    root, _ = planted
    xml_path = tmp_path / "parity.xml"
    r = run("validate", root, "--junit", xml_path)
    assert r.exit_code == 1
    tree = ET.parse(xml_path).getroot()
    # the common JUnit schema: testsuites > testsuite > (properties, testcase > failure|skipped|error)
    assert tree.tag == "testsuites"
    suites = tree.findall("testsuite")
    assert len(suites) == 2 and set(tree) == set(suites)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        assert {"name", "tests", "failures", "errors", "skipped", "time", "timestamp", "hostname"} <= set(suite.attrib)
        assert {c.tag for c in suite} <= {"properties", "testcase", "system-out", "system-err"}
        cases = suite.findall("testcase")
        assert [c.get("name") for c in cases][:2] == ["output model/logits", "metric label_agreement"]
        assert [c.get("name") for c in cases][2].startswith("end-to-end answers vs transformers")
        for c in cases:
            assert {"name", "classname", "time"} <= set(c.attrib) and float(c.get("time")) >= 0
            assert {x.tag for x in c} <= {"failure", "error", "skipped", "system-out", "system-err"}
            for f in c.findall("failure"):
                assert f.get("message") and f.get("type") == "ParityFailure" and f.text
        counts = {"tests": len(cases), "failures": sum(1 for c in cases if c.find("failure") is not None),
                  "errors": sum(1 for c in cases if c.find("error") is not None),
                  "skipped": sum(1 for c in cases if c.find("skipped") is not None)}
        assert {k: int(suite.get(k)) for k in counts} == counts
        for k in totals:
            totals[k] += counts[k]
        props = {p.get("name"): p.get("value") for p in suite.find("properties")}
        assert props["reference"] == "golden" and props["precision"] == "fp32"
    assert {k: int(tree.get(k)) for k in totals} == totals
    by_name = {s.get("name").split(":")[-1]: s for s in suites}
    # the planted fault is in the ONNX: its logits fail, and so do its answers against transformers'
    assert int(by_name["onnxruntime/fp32 vs golden"].get("failures")) == 2
    assert int(by_name["openvino/fp32 vs golden"].get("failures")) == 0  # the IR was not touched
    failure = by_name["onnxruntime/fp32 vs golden"].find("testcase/failure")
    assert "max_abs=" in failure.get("message")


def test_localize_finds_the_planted_node(planted, bundle, tmp_path):
    root, weight = planted
    r = run("validate", root, "--against", bundle, "--backend", "onnxruntime", "--localize",
            "--json", tmp_path / "r.json")
    assert r.exit_code == 1
    assert f"first divergent node: {PLANTED_NODE} (MatMul)" in r.output
    (report,) = json.loads((tmp_path / "r.json").read_text())
    loc = report["localize"]
    assert loc["first_divergent"]["node"] == PLANTED_NODE
    assert loc["first_divergent"]["op_type"] == "MatMul"
    assert loc["first_divergent"]["initializers"] == [weight]
    assert loc["first_divergent"]["max_abs"] > 1e-2
    assert list(loc["changed_initializers"]) == [weight]
    assert loc["compared"] > 100 and "layer.0" in loc["last_agreeing"]


def test_localize_against_torch_uses_a_reexport(planted, tmp_path):
    root, weight = planted
    r = run("validate", root, "--against", "torch", "--backend", "onnxruntime", "--localize",
            "--json", tmp_path / "r.json")
    assert r.exit_code == 1, r.output
    (report,) = json.loads((tmp_path / "r.json").read_text())
    assert "re-export" in report["localize"]["reference"]
    assert report["localize"]["first_divergent"]["node"] == PLANTED_NODE


def test_localize_on_a_passing_bundle_reports_nothing(bundle, tmp_path):
    r = run("validate", bundle, "--localize", "--json", tmp_path / "r.json")
    assert r.exit_code == 0
    assert all("localize" not in x for x in json.loads((tmp_path / "r.json").read_text()))


def test_stat_and_tolerances_in_the_library():
    """The statistic is over |got-ref| / (atol + rtol*|ref|): max is numpy.allclose."""
    from edgetool.check.compare import ErrorAccumulator, thresholds_for

    ref = np.zeros(1000, np.float32)
    got = ref.copy()
    got[0] = 1.0  # one outlier
    got[1:] = 1e-5
    for stat, passed in (("max", False), ("p99", True), ("median", True), ("mean", False)):
        acc = ErrorAccumulator("g", "y", 1e-4, 0.0, stat)
        acc.add(ref, got)
        assert acc.result()["passed"] is passed, stat
    assert np.allclose(got[1:], ref[1:], atol=1e-4, rtol=0)
    th = thresholds_for(TASK, "fp32", atol=1e-2, output_atol={"logits": 0.5}, output_rtol={"model/*": 0.25})
    assert th.for_output("model", "logits") == (0.5, 0.25)
    assert th.for_output("model", "other") == (1e-2, 0.25)
    assert th.for_output("x", "other") == (1e-2, 1e-3)


def test_localize_inside_openvino(bundle, tmp_path):
    """The IR's own weights changed (its source ONNX is intact): the ONNX graphs agree, so localization
    compares the IR on OpenVINO with its source ONNX on ONNX Runtime, tensor name by tensor name."""
    import re

    root = tmp_path / "ov"
    shutil.copytree(bundle, root)
    xml = (root / "openvino/fp32/model.xml").read_text()
    layer = re.search(rf'<layer id="(\d+)" name="{re.escape(PLANTED_NODE)}"', xml).group(1)
    const = re.search(rf'<edge from-layer="(\d+)" from-port="\d+" to-layer="{layer}" to-port="1"', xml).group(1)
    data = re.search(rf'<layer id="{const}" [^>]*type="Const"[^>]*>\s*<data element_type="f32" shape="(\d+), (\d+)" '
                     r'offset="(\d+)" size="(\d+)"', xml)
    rows, cols, offset, size = map(int, data.groups())
    binary = bytearray((root / "openvino/fp32/model.bin").read_bytes())
    w = np.frombuffer(bytes(binary[offset:offset + size]), np.float32).reshape(rows, cols).copy()
    w[:, 0] += 0.5  # the IR stores the weight transposed: column 0 is input feature 0
    binary[offset:offset + size] = w.tobytes()
    (root / "openvino/fp32/model.bin").write_bytes(bytes(binary))
    rehash(root)
    r = run("validate", root, "--backend", "openvino", "--against", "onnx/fp32", "--localize", "--json", tmp_path / "r.json")
    assert r.exit_code == 1, r.output
    (report,) = json.loads((tmp_path / "r.json").read_text())
    loc = report["localize"]
    assert loc["engine"] == "openvino" and "IR on OpenVINO" in loc["candidate"]
    assert loc["first_divergent"]["node"] == PLANTED_NODE and loc["first_divergent"]["op_type"] == "MatMul", json.dumps(loc)
    assert loc["compared"] > 20 and loc["last_agreeing"]
