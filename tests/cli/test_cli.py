"""The CLI as a user drives it: names, outputs, exit codes, one-line errors."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from cli_invoke import invoke_cli as run


def test_tasks_lists_all_with_status():
    r = run("tasks", "--json")
    assert r.exit_code == 0
    rows = {row["task"]: row for row in json.loads(r.stdout)}
    assert rows["text-classification"]["status"] == "implemented"
    assert "classify" in rows["text-classification"]["aliases"]
    assert len(rows) >= 17
    human = run("tasks")
    assert "text-classification" in human.output and "implemented" in human.output


def test_export_run_validate_inspect(tmp_path):
    out = tmp_path / "b"
    r = run("export", "--task", "classify", "--target", "openvino", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "openvino/fp32: parity ok" in r.output

    r = run("run", str(out), "I love this")
    assert r.exit_code == 0 and r.output.split()[0] in {"NEGATIVE", "NEUTRAL", "POSITIVE"}

    r = run("run", str(out), "I love this", "--json", "--top-k", "3", "--backend", "openvino")
    data = json.loads(r.stdout)
    assert [d["label"] for d in data] and len(data) == 3 and data[0]["score"] >= data[1]["score"]

    r = run("validate", str(out), "--json", str(tmp_path / "r.json"), "--junit", str(tmp_path / "r.xml"))
    assert r.exit_code == 0, r.output
    assert "PARITY OK" in r.output
    assert json.loads((tmp_path / "r.json").read_text())[0]["passed"] is True

    r = run("inspect", str(out))
    assert r.exit_code == 0 and "openvino/fp32/model" in r.output and "sha256" in r.output

    # a tampered copy fails validation with the file named
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    p = bad / "openvino/fp32/model.bin"
    p.write_bytes(p.read_bytes()[:-16])
    r = run("validate", str(bad))
    assert r.exit_code != 0 and "model.bin" in r.output


def test_validate_fails_with_exit_1_when_out_of_tolerance(bundle_dir):
    b = bundle_dir("text-classification")
    r = run("validate", str(b), "--atol", "0", "--rtol", "0")
    assert r.exit_code == 1 and "PARITY FAILED" in r.output


@pytest.mark.parametrize("argv,needle", [
    (["export", "--task", "detct"], "Did you mean 'detect'"),
    (["export", "--task", "classify", "--target", "tensorrtt"], "Unknown target"),
    (["run", "no/such/bundle", "hi"], "does not exist"),
    (["validate", "no/such/bundle"], "does not exist"),
    (["export", "--task", "classify", "--model", "no/such/dir"], "does not exist"),
])
def test_errors_are_one_line_exit_2(argv, needle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run(*argv)
    assert r.exit_code == 2, r.output
    assert needle in r.output
    assert "Traceback" not in r.output


def test_run_bad_text_and_wrong_option(bundle_dir):
    b = str(bundle_dir("text-classification"))
    r = run("run", b, "   ")
    assert r.exit_code == 2 and "empty" in r.output and "Traceback" not in r.output
    r = run("run", b)
    assert r.exit_code == 2 and "Give an input" in r.output
    r = run("run", b, "hi", "--question", "why?")
    assert r.exit_code == 2 and "--question does not apply" in r.output


def test_run_reads_stdin(bundle_dir):
    r = run("run", str(bundle_dir("text-classification")), "-", "--json", input="I love this\n")
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["label"]


def test_missing_engine_names_the_extra(bundle_dir, monkeypatch):
    """OpenVINO absent: a clear error naming the extra to install."""
    import builtins

    bundle = str(bundle_dir("text-classification", target="openvino"))
    real_import = builtins.__import__

    def fake_import(name, *a, **k):
        if name == "openvino" or name.startswith("openvino."):
            raise ImportError("No module named 'openvino'")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    r = run("run", bundle, "hi", "--backend", "openvino")
    assert r.exit_code == 2 and "pip install 'edgetool[openvino]'" in r.output


def test_console_script_help():
    exe = shutil.which("edgetool", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert exe, "the edgetool console script is installed"
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "export" in proc.stdout and "validate" in proc.stdout


def test_a_reference_model_says_its_answers_are_random(bundle_dir, reference_dir, tmp_path):
    r = run("run", str(bundle_dir("text-classification")), "I love this")
    assert r.exit_code == 0 and "built-in tiny reference model" in r.stderr
    assert "random-weight" not in r.stdout  # the answer itself stays clean for pipes
    out = tmp_path / "own"
    assert run("export", "--task", "classify", "--model", reference_dir("bert-tiny-classifier"), "--out", out,
               "-q").exit_code == 0
    r = run("run", str(out), "I love this")
    assert r.exit_code == 0 and "reference model" not in r.output  # a user's own checkpoint: no note
