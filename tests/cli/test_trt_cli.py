"""`export --target trt`, `build`, `run --backend tensorrt` and `doctor` through the real entry point.

This machine has no TensorRT and no GPU: export must still write the ONNX + recipe, and build / run must
fail with one line naming what is missing (never a traceback). Building with stand-ins for TensorRT is
covered by tests/targets/test_tensorrt.py; real engines only run where a GPU is lent."""
from __future__ import annotations

import importlib.util
import json

import pytest
from cli_invoke import invoke_cli as run

from edgetool.runtime.backends.tensorrt import build as trt_build, bundle_build as trt_bundle, cuda as trt_cuda, profiles as trt_profiles
from edgetool.runtime.errors import EngineMissingError
from edgetool.runtime.bundle import Bundle
from edgetool.runtime.errors import UsageError

NO_TRT = pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None,
                            reason="TensorRT is installed here: the missing-TensorRT errors cannot happen")


def one_line_error(r, *needles):
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and r.output.startswith("error: ") and r.output.count("\n") == 1, r.output
    for n in needles:
        assert n in r.output, (n, r.output)


@pytest.fixture(scope="module")
def fp16_shapes_bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("trt") / "b"
    r = run("export", "--task", "classify", "--target", "trt", "--precision", "fp16", "--shapes",
            "input_ids=1x8,2x64,8x128", "--workspace", "256", "--out", str(out), "-q")
    assert r.exit_code == 0, r.output
    return out, r.output


def test_export_trt_default_recipe_from_the_task_registry(bundle_dir):
    b = Bundle.load(bundle_dir("text-classification", target="trt"))
    trt = [a for a in b.artifacts if a.target == "trt"]
    assert [(a.graph, a.precision, a.format) for a in trt] == [("model", "fp32", "onnx")]
    art = trt[0]
    assert art.path == "onnx/fp32/model.onnx" and art.files == next(a for a in b.artifacts if a.target == "onnx").files
    limit = b.processing["tokenizer"]["model_max_length"]
    batch = trt_profiles.TYPICAL_DIMS["batch"]
    seq = (1, min(trt_profiles.TYPICAL_DIMS["sequence"][1], limit), min(trt_profiles.TYPICAL_DIMS["sequence"][2], limit))
    expected = {"min": [batch[0], seq[0]], "opt": [batch[1], seq[1]], "max": [batch[2], seq[2]]}
    assert art.options["profiles"] == {t.name: expected for t in b.graphs["model"].inputs}
    assert art.options["precision"] == "fp32" and art.options["workspace_mb"] is None
    assert "edgetool build" in art.options["engine"] and "backends" not in art.options  # fp32 ONNX runs anywhere
    # parity could not run here, and says why; ONNX Runtime's was checked
    parity = b.manifest.to_json()["parity"]
    assert parity["onnxruntime/fp32"]["passed"] is True
    if importlib.util.find_spec("tensorrt") is None:
        assert parity["tensorrt/fp32"]["passed"] is None and "tensorrt Python package" in parity["tensorrt/fp32"]["skipped"]
    # the device's build plan reads back the very recipe export wrote
    plan = trt_bundle.plan_builds(b, trt_bundle.TrtBuildOptions())
    assert [(p.graph, p.artifact.id, p.recipe) for p in plan] == \
        [("model", "trt/fp32/model", {"precision": "fp32", "profiles": art.options["profiles"], "workspace_mb": None})]
    # the bundle still runs here on ONNX Runtime
    r = run("run", str(b.root), "I love this", "--backend", "onnxruntime", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["label"] in b.id2label.values()


def test_export_trt_with_shapes_fp16_and_workspace(fp16_shapes_bundle):
    out, log = fp16_shapes_bundle
    assert "tensorrt/fp16: not checked here" in log or "tensorrt/fp16: parity" in log
    b = Bundle.load(out)
    art = next(a for a in b.artifacts if a.target == "trt")
    one = {"min": [1, 8], "opt": [2, 64], "max": [8, 128]}
    # one --shapes entry sizes every input sharing its dims (TensorRT needs them consistent)
    assert art.options["profiles"] == {t.name: one for t in b.graphs["model"].inputs}
    assert (art.precision, art.options["precision"], art.options["workspace_mb"]) == ("fp16", "fp16", 256)
    assert art.options["backends"] == ["tensorrt"]
    # TensorRT 10 builds the fp32 ONNX (kept once) with BuilderFlag.FP16; TensorRT 11, which has no such flag,
    # builds the strongly typed fp16 ONNX written beside it (fp32 I/O, sensitive ops kept fp32)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.onnx")) == \
        ["onnx/fp32/model.onnx", "trt/fp16/model.fp16.onnx"]
    assert art.path == "onnx/fp32/model.onnx" and sorted(art.files) == ["onnx/fp32/model.onnx", "trt/fp16/model.fp16.onnx"]
    assert art.options["fp16_onnx"] == "model.fp16.onnx" and "Softmax" in art.options["kept_fp32_ops"]
    import onnx

    fp16 = onnx.load(str(out / "trt/fp16/model.fp16.onnx"))
    assert {i.type.tensor_type.elem_type for i in [*fp16.graph.input, *fp16.graph.output]} <= \
        {onnx.TensorProto.FLOAT, onnx.TensorProto.INT64}
    assert sum(i.data_type == onnx.TensorProto.FLOAT16 for i in fp16.graph.initializer) > \
        sum(i.data_type == onnx.TensorProto.FLOAT for i in fp16.graph.initializer)
    plan = trt_bundle.plan_builds(b, trt_bundle.TrtBuildOptions(strongly_typed=True))
    assert plan[0].recipe["fp16_onnx"] == "model.fp16.onnx" and plan[0].recipe["typing"] == "strong"
    r = run("run", str(out), "I love this", "--backend", "onnxruntime", "--precision", "fp16")
    one_line_error(r, "only tensorrt turns into fp16", "--backend tensorrt")
    r = run("run", str(out), "I love this", "--backend", "onnxruntime")  # fp32 is the ONNX itself
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("argv, needles", [
    (("--shapes", "input_ids=1x8,1x4"), ("--shapes: bad entry 'input_ids=1x8,1x4'", "1 or 3 shapes", "e.g.")),
    (("--shapes", "input_ids=1x8,1x4,8x512"), ("min <= opt <= max",)),
    (("--shapes", "input_ids=1xq"), ("'1xq' is not a shape like 1x128",)),
    (("--shapes", "pixels=1x8"), ("--shapes names 'pixels', which no graph of this model has", "input_ids")),
    (("--shapes", "input_ids=1x8x3"), ("gives 'input_ids' 3 dims; the graph's input has 2",)),
    (("--target", "onnx", "--shapes", "input_ids=1x8"), ("do not apply to --target onnx",)),
    (("--target", "openvino", "--workspace", "64"), ("do not apply to --target openvino",)),
    (("--workspace", "0"), ("--workspace must be a positive number of MiB",)),
])
def test_bad_shapes_are_one_line_errors_and_write_nothing(tmp_path, argv, needles):
    if "--target" not in argv:
        argv = ("--target", "trt", *argv)
    out = tmp_path / "b"
    r = run("export", "--task", "classify", "--out", str(out), "-q", *argv)
    one_line_error(r, *needles)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@NO_TRT
def test_build_here_names_what_is_missing(bundle_dir, tmp_path):
    r = run("build", str(bundle_dir("text-classification", target="trt")), "--cache-dir", str(tmp_path))
    one_line_error(r, "TensorRT cannot run on this machine: missing the tensorrt Python package",
                   "pypi.nvidia.com", "The bundle keeps its ONNX model", "edgetool build BUNDLE")
    assert list(tmp_path.iterdir()) == []
    # a bad request is named before the machine is probed
    r = run("build", str(bundle_dir("text-classification", target="trt")), "--shapes", "token=1x2")
    one_line_error(r, "--shapes names 'token'")


@NO_TRT
def test_run_backend_tensorrt_here_names_what_is_missing(bundle_dir):
    path = bundle_dir("text-classification", target="trt")
    for argv in (("run", str(path), "I love this"), ("run", str(path), "I love this", "--backend", "tensorrt"),
                 ("run", str(path), "hi", "--backend", "trt", "--build-engine")):
        one_line_error(run(*argv), "TensorRT cannot run on this machine", "tensorrt Python package",
                       "--backend onnxruntime")


def test_build_plan_for_bundles_of_other_targets(bundle_dir):
    """An ONNX-only bundle can still be built on the device: profiles from the task registry."""
    b = Bundle.load(bundle_dir("text-classification"))
    plan = trt_bundle.plan_builds(b, trt_bundle.TrtBuildOptions(precision="fp16", workspace_mb=128))
    (p,) = plan
    assert p.artifact.id == "onnx/fp32/model" and p.recipe["precision"] == "fp16" and p.recipe["workspace_mb"] == 128
    assert p.recipe["profiles"]["input_ids"]["max"][1] == min(512, b.processing["tokenizer"]["model_max_length"])
    (p,) = trt_bundle.plan_builds(b, trt_bundle.TrtBuildOptions(shapes="attention_mask=1x4,1x16,2x32"))
    assert {name: prof["max"] for name, prof in p.recipe["profiles"].items()} == \
        {"input_ids": [2, 32], "token_type_ids": [2, 32], "attention_mask": [2, 32]}
    with pytest.raises(UsageError, match="no ONNX TensorRT can build 'model' from at int8"):
        trt_bundle.plan_builds(b, trt_bundle.TrtBuildOptions(precision="int8"))


def test_build_bundle_caches_with_a_stand_in_tensorrt(bundle_dir, tmp_path, monkeypatch):
    """build -> engine written under the key; the second build is a cache hit (no TensorRT, no GPU here)."""
    import types

    gpu = trt_cuda.Gpu(0, "NVIDIA Jetson Orin Nano", "8.7")
    monkeypatch.setattr(trt_cuda, "probe_cuda", lambda: trt_cuda.CudaProbe(driver="12.6", gpus=[gpu], runtime="x"))
    fake_trt = types.SimpleNamespace(__version__="10.3.0")
    monkeypatch.setattr(trt_build, "check_engine_environment", lambda probe=None: fake_trt)
    builds = []

    def fake_build(onnx, recipe, cache_dir, onnx_sha256=None, force=False, strong_onnx=None):
        builds.append(recipe)
        key, _ = trt_build.engine_key_here(fake_trt, recipe, onnx, onnx_sha256, strong_onnx)
        path = tmp_path / f"{key}.plan"
        path.write_bytes(b"engine")
        return path
    monkeypatch.setattr(trt_build, "build_engine", fake_build)
    path = bundle_dir("text-classification", target="trt")
    r = run("build", str(path), "--cache-dir", str(tmp_path))
    assert r.exit_code == 0, r.output
    assert r.output.startswith("model (fp32): built ") and "NVIDIA_Jetson_Orin_Nano-sm87-trt10.3.0-fp32-" in r.output
    r = run("build", str(path), "--cache-dir", str(tmp_path))
    assert r.output.startswith("model (fp32): cached ") and len(builds) == 1
    r = run("build", str(path), "--cache-dir", str(tmp_path), "--force")
    assert r.output.startswith("model (fp32): built ") and len(builds) == 2
    r = run("build", str(path), "--cache-dir", str(tmp_path), "--precision", "fp16")  # another key
    assert "fp16): built" in r.output and len(list(tmp_path.glob("*.plan"))) == 2


def test_doctor_on_this_machine():
    r = run("doctor")
    assert r.exit_code == 0, r.output
    for component in ("ONNX Runtime", "OpenVINO", "TensorRT", "CUDA driver", "NVIDIA GPU", "Jetson / L4T"):
        assert component in r.output
    assert "runs here: onnxruntime, openvino" in r.output and "CPUExecutionProvider" in r.output
    data = json.loads(run("doctor", "--json").output)
    assert {"onnxruntime", "openvino"} <= set(data["backends"])
    rows = {row["component"]: row for row in data["components"]}
    if importlib.util.find_spec("tensorrt") is None:
        assert "tensorrt" in data["not_here"] and "TensorRT" in data["not_here"]["tensorrt"]
        assert rows["TensorRT"]["status"] == "missing" and "pypi.nvidia.com" in rows["TensorRT"]["fix"]
        assert "TensorRT: JetPack ships TensorRT" in r.output  # the fix is printed
    if not rows["NVIDIA GPU"]["status"] == "ok":
        assert "tensorrt" not in data["backends"]


def test_real_trt_bundle_matches_onnxruntime_on_a_gpu(bundle_dir, tmp_path):
    """Only where TensorRT and an NVIDIA GPU exist: build the bundle's engine, run it, compare with ONNX Runtime."""
    pytest.importorskip("tensorrt", reason="TensorRT needs an NVIDIA GPU and NVIDIA's package index; CI has neither")
    try:
        trt_build.check_engine_environment()
    except EngineMissingError as e:
        pytest.skip(str(e))
    from edgetool.runtime import pipeline
    from edgetool.runtime.backends import BackendOptions

    path = bundle_dir("text-classification", target="trt")
    r = run("build", str(path), "--cache-dir", str(tmp_path))
    assert r.exit_code == 0 and "built" in r.output, r.output
    gpu = pipeline(path, backend="tensorrt", options=BackendOptions(cache_dir=str(tmp_path)))
    cpu = pipeline(path, backend="onnxruntime")
    for text in ("I love this", ["a short one", "and a somewhat longer second sentence to pad the batch"]):
        got, ref = gpu(text, top_k=None), cpu(text, top_k=None)
        got, ref = (got, ref) if isinstance(text, list) else ([got], [ref])
        for g, c in zip(got, ref):
            assert [d["label"] for d in g] == [d["label"] for d in c]
            assert max(abs(a["score"] - b["score"]) for a, b in zip(g, c)) < 1e-3
