"""Installs that fit the device, checked with pip's own resolver (`pip install --dry-run --report`):

- the base install carries no engine, and each engine is one extra;
- the runtime with `onnxruntime-gpu` does not pull the CPU `onnxruntime` (both install into one
  `onnxruntime` module, and the CUDA/TensorRT providers silently disappear: microsoft/onnxruntime#26996);
- the runtime's requirement set resolves to binary wheels on a Jetson (JetPack 6: Ubuntu 22.04, glibc
  2.35, aarch64, Python 3.10).

The requirement sets are read from pyproject.toml and resolved as requirement strings, so nothing is built
or installed. Needs a package index: skipped, with the reason, where none is reachable.
"""
from __future__ import annotations

import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENGINES = ("onnxruntime", "onnxruntime-gpu", "openvino", "tensorrt")
# What pip on JetPack 6 accepts: every manylinux tag up to its glibc 2.35 (pip's --platform matches tags
# exactly, so the older ones most wheels carry are named too).
JETPACK6 = [f"manylinux_2_{minor}_aarch64" for minor in range(17, 36)] + ["manylinux2014_aarch64"]


def project() -> dict:
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11's tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def requirements(*extras: str) -> list[str]:
    p = project()
    return [*p["dependencies"], *(r for e in extras for r in p["optional-dependencies"][e])]


def _name(requirement: str) -> str:
    import re

    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower()


@lru_cache(maxsize=None)
def _index_reachable() -> str | None:
    """None when pip can resolve a small package here, else why not."""
    try:
        out = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
                              "--no-deps", "click"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "no package index answered within 60 s"
    return None if out.returncode == 0 else f"no package index reachable: {out.stderr.strip().splitlines()[-1:]}"


def resolve(reqs: list[str], *args: str, timeout: int = 240) -> list[dict]:
    """pip's install report for these requirements (nothing installed; ignoring what this venv has)."""
    if why := _index_reachable():
        pytest.skip(why)
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed", "--report", "-",
           *args, *reqs]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.skip(f"pip did not resolve {reqs} within {timeout} s (slow or unreachable index)")
    assert out.returncode == 0, f"pip could not resolve {reqs}:\n{out.stderr[-3000:]}"
    report = out.stdout[out.stdout.index("{"):]  # pip may print notes before the JSON
    return json.loads(report)["install"]


def test_the_base_install_carries_no_engine_and_each_engine_is_one_extra():
    p = project()
    base = {_name(r) for r in p["dependencies"]}
    assert base == {"numpy", "tokenizers", "click"}
    extras = p["optional-dependencies"]
    for engine in ENGINES:
        assert engine in extras, engine
    assert {_name(r) for r in extras["onnxruntime"]} == {"onnxruntime"}
    assert {_name(r) for r in extras["onnxruntime-gpu"]} == {"onnxruntime-gpu"}
    assert "tensorrt" in {_name(r) for r in extras["tensorrt"]}
    # no extra but the CPU one names the CPU onnxruntime: combining extras never installs two builds
    for extra, reqs in extras.items():
        if extra != "onnxruntime":
            assert "onnxruntime" not in {_name(r) for r in reqs}, extra


def test_no_engine_installed_is_one_line_naming_the_extras(monkeypatch):
    from edgetool.runtime.backends import onnxruntime_backend
    from edgetool.runtime.errors import EngineMissingError

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if absent
    with pytest.raises(EngineMissingError) as e:
        onnxruntime_backend.import_ort()
    msg = str(e.value)
    assert "\n" not in msg and "No inference engine" in msg
    for extra in ENGINES:
        assert f"'edgetool[{extra}]'" in msg, extra


def test_runtime_with_onnxruntime_gpu_does_not_pull_the_cpu_onnxruntime():
    installed = {i["metadata"]["name"].lower() for i in resolve(requirements("onnxruntime-gpu"))}
    assert "onnxruntime-gpu" in installed and {"numpy", "tokenizers"} <= installed
    assert "onnxruntime" not in installed, sorted(installed)


def test_the_check_catches_a_base_that_names_the_cpu_build():
    """The trap the base install used to set: with `onnxruntime` among its dependencies, both builds come."""
    installed = {i["metadata"]["name"].lower() for i in resolve([*requirements("onnxruntime-gpu"), "onnxruntime>=1.18"])}
    assert {"onnxruntime", "onnxruntime-gpu"} <= installed


def test_runtime_resolves_to_binary_wheels_on_jetpack6():
    """numpy, tokenizers, click, Pillow and the CPU onnxruntime / OpenVINO from PyPI; JetPack's onnxruntime-gpu
    and TensorRT come from NVIDIA (its Jetson index, the system packages) and are not on PyPI for Jetsons."""
    platforms = [a for p in JETPACK6 for a in ("--platform", p)]
    reqs = requirements("image", "onnxruntime", "openvino")
    items = resolve(reqs, "--only-binary=:all:", "--python-version", "3.10", "--implementation", "cp",
                    "--target", str(ROOT / ".no-install-target"), *platforms)
    names = {i["metadata"]["name"].lower() for i in items}
    assert {_name(r) for r in reqs} <= names
    for i in items:
        url = i["download_info"]["url"]
        file = url.rsplit("/", 1)[-1]
        assert file.endswith(".whl"), url
        tags = file[:-4].split("-")[-1]
        assert tags == "any" or "aarch64" in tags, file  # a compiled wheel for the Jetson, or pure Python


def test_the_verify_extra_is_what_a_device_needs_to_check_signatures():
    """edgetool[verify]: cryptography and pyOpenSSL only — no model-signing, sigstore or engine — and binary
    wheels on a JetPack 6 board."""
    installed = {i["metadata"]["name"].lower() for i in resolve(requirements("verify"))}
    assert {"cryptography", "pyopenssl"} <= installed, installed
    assert not installed & {"model-signing", "sigstore", "torch", "transformers", "onnxruntime", "onnx"}, installed
    platforms = [a for p in JETPACK6 for a in ("--platform", p)]
    items = resolve(requirements("verify"), "--only-binary=:all:", "--python-version", "3.10", "--implementation",
                    "cp", "--target", str(ROOT / ".no-install-target"), *platforms)
    assert {"cryptography", "pyopenssl"} <= {i["metadata"]["name"].lower() for i in items}


def test_the_signing_extra_stays_light():
    """edgetool[signing] adds model-signing and the pyOpenSSL it imports without declaring, and no engine,
    torch or transformers (a device that verifies signatures keeps its size otherwise)."""
    installed = {i["metadata"]["name"].lower() for i in resolve(requirements("signing"))}
    assert {"model-signing", "pyopenssl"} <= installed, installed
    assert not installed & {"torch", "transformers", "onnxruntime", "onnx"}, installed
