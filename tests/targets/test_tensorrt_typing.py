"""TensorRT 10 and 11: which ONNX an engine is built from and how (weakly typed with builder precision
flags, or strongly typed), driven through stand-ins for both shapes of the `tensorrt` module: TensorRT 10
(BuilderFlag.FP16/INT8 and the STRONGLY_TYPED network flag), TensorRT 11 (strongly typed only, no
precision flags), and TensorRT 8.6 (no strong typing: INT8 is a builder flag)."""
from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from edgetool.runtime.backends.tensorrt import build as trt_build, cuda as trt_cuda
from edgetool.runtime.backends.tensorrt.build import build_engine, engine_source, strong_onnx_of
from edgetool.runtime.backends.tensorrt.cache import engine_cache_key
from edgetool.bundle_writer import write_manifest_digest
from edgetool.runtime.bundle import sha256_file
from edgetool.runtime.errors import EdgetoolError, UnsupportedError, UsageError
from edgetool.targets import BuildOptions, get_target

def tiny_onnx(path: Path) -> Path:
    """y = relu(x @ W + b), x: [batch, 8]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(8, 4)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.normal(size=(4,)).astype(np.float32), "B")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"], name="mm"), helper.make_node("Add", ["h", "B"], ["z"]),
             helper.make_node("Relu", ["z"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])], [w, b])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


PROFILES = {"x": {"min": [1, 8], "opt": [2, 8], "max": [4, 8]}}
STRONG_BIT = 1  # NetworkDefinitionCreationFlag.STRONGLY_TYPED in the fakes
EXPLICIT_BIT = 0


def fake_trt(version: str, *, precision_flags: bool = True, strongly_typed_flag: bool = True):
    """A `tensorrt` module of that API shape; builder/parser/config are mocks the test inspects."""
    trt = mock.MagicMock(__version__=version)
    trt.BuilderFlag = types.SimpleNamespace(TF32="TF32", **({"FP16": "FP16", "INT8": "INT8"} if precision_flags else {}))
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(
        EXPLICIT_BATCH=EXPLICIT_BIT, **({"STRONGLY_TYPED": STRONG_BIT} if strongly_typed_flag else {}))
    builder = trt.Builder.return_value
    network = builder.create_network.return_value
    network.num_inputs = 1
    network.get_input.return_value = types.SimpleNamespace(name="x", shape=(-1, 8))
    trt.OnnxParser.return_value.parse_from_file.return_value = True
    builder.create_builder_config.return_value.get_timing_cache.return_value.serialize.return_value = b"TIMING"
    builder.build_serialized_network.return_value = b"PLAN"
    return trt


TRT10 = dict(version="10.3.0")
TRT11 = dict(version="11.0.0", precision_flags=False)
TRT8 = dict(version="8.6.1", strongly_typed_flag=False)


@pytest.fixture
def gpu(monkeypatch):
    probe = trt_cuda.CudaProbe(driver="12.6", gpus=[trt_cuda.Gpu(0, "NVIDIA Orin", "8.7")], runtime="fake")
    monkeypatch.setattr(trt_cuda, "probe_cuda", lambda: probe)
    monkeypatch.setattr(trt_build, "_LOGGER", None)

    def use(**shape):
        trt = fake_trt(**shape)
        monkeypatch.setattr(trt_build, "check_engine_environment", lambda probe=None: trt)
        return trt
    return use


@pytest.fixture
def onnx_pair(tmp_path):
    """The two files of a trt/fp16 artifact: the fp32 ONNX and its strongly typed fp16 conversion."""
    from edgetool.quantize.builds import build


    src = tiny_onnx(tmp_path / "src.onnx")
    built = build(get_target("trt"), src, tmp_path / "trt/fp16", "model", BuildOptions(precision="fp16"))
    recipe = {"precision": "fp16", "workspace_mb": None, "profiles": PROFILES, "fp16_onnx": built.options["fp16_onnx"]}
    fp32, fp16 = tmp_path / "trt/fp16/model.onnx", tmp_path / "trt/fp16/model.fp16.onnx"
    return fp32, fp16, recipe, built


def _built(trt, cache: Path, key_part: str) -> tuple[Path, dict]:
    plans = [p for p in cache.glob("*.plan") if key_part in p.name]
    assert len(plans) == 1, [p.name for p in cache.glob("*.plan")]
    return plans[0], json.loads(plans[0].with_suffix(".json").read_text())


# -- the export side: two ONNX files, one recipe --------------------------------------------------
def test_fp16_artifact_carries_the_fp32_onnx_and_a_strongly_typed_fp16_onnx(onnx_pair):
    import onnx
    import onnxruntime as ort

    fp32, fp16, recipe, built = onnx_pair
    assert (built.format, built.path, built.files) == ("onnx", "model.onnx", ["model.onnx", "model.fp16.onnx"])
    assert built.options["fp16_onnx"] == "model.fp16.onnx" and built.options["backends"] == ["tensorrt"]
    assert built.options["precision"] == "fp16" and built.options["profiles"]
    model = onnx.load(str(fp16))
    assert [i.type.tensor_type.elem_type for i in (*model.graph.input, *model.graph.output)] == [onnx.TensorProto.FLOAT] * 2
    assert {i.data_type for i in model.graph.initializer} == {onnx.TensorProto.FLOAT16}
    x = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
    want = ort.InferenceSession(str(fp32)).run(None, {"x": x})[0]
    got = ort.InferenceSession(str(fp16)).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, atol=2e-2 * np.abs(want).max())


def test_targets_alone_no_longer_claim_fp16():
    """fp16 needs the quantizer's conversion (targets never import it), so export routes it through quantize.builds."""
    from edgetool.quantize.builds import BUILDS

    target = get_target("trt")
    assert target.own_precisions == ("fp32",) and "fp16" in target.precisions
    assert ("trt", "fp16") in BUILDS and ("trt", "int8") in BUILDS


# -- which ONNX, which path ------------------------------------------------------------------------
def test_tensorrt10_fp16_keeps_the_fp32_onnx_and_the_fp16_flag(gpu, onnx_pair, tmp_path):
    trt = gpu(**TRT10)
    fp32, fp16, recipe, _ = onnx_pair
    strong = (fp16, sha256_file(fp16))
    plan = build_engine(fp32, recipe, tmp_path / "c", strong_onnx=strong)
    trt.OnnxParser.return_value.parse_from_file.assert_called_once_with(str(fp32))
    trt.Builder.return_value.create_network.assert_called_once_with(0)  # weakly typed network
    trt.Builder.return_value.create_builder_config.return_value.set_flag.assert_called_once_with("FP16")
    assert plan.name.startswith("NVIDIA_Orin-sm87-trt10.3.0-fp16-") and "strong" not in plan.name
    # the key of the TensorRT 10 path is the one engines had before strong typing existed
    assert plan.stem == engine_cache_key("NVIDIA Orin", "8.7", "10.3.0", "fp16", PROFILES, sha256_file(fp32))
    note = json.loads(plan.with_suffix(".json").read_text())
    assert note == {"tensorrt": "10.3.0", "gpu": "NVIDIA Orin", "precision": "fp16", "typing": "weak",
                    "builder_flags": ["FP16"], "onnx": "model.onnx", "onnx_sha256": sha256_file(fp32)}


def test_tensorrt10_fp16_strongly_typed_on_request(gpu, onnx_pair, tmp_path):
    trt = gpu(**TRT10)
    fp32, fp16, recipe, _ = onnx_pair
    strong = (fp16, sha256_file(fp16))
    weak_plan = build_engine(fp32, recipe, tmp_path / "c", strong_onnx=strong)
    plan = build_engine(fp32, dict(recipe, typing="strong"), tmp_path / "c", strong_onnx=strong)
    assert plan != weak_plan and "-fp16-strong-" in plan.name  # two paths, two engines
    trt.OnnxParser.return_value.parse_from_file.assert_called_with(str(fp16))
    trt.Builder.return_value.create_network.assert_called_with(1 << STRONG_BIT)
    assert trt.Builder.return_value.create_builder_config.return_value.set_flag.call_count == 1  # only the weak build's
    note = json.loads(plan.with_suffix(".json").read_text())
    assert (note["typing"], note["builder_flags"], note["onnx"]) == ("strong", [], "model.fp16.onnx")
    # the request is part of the recipe the cache remembers for this ONNX and precision
    last = json.loads(next((tmp_path / "c").glob("last-*.json")).read_text())
    assert last["typing"] == "strong" and last["fp16_onnx"] == "model.fp16.onnx"


def test_tensorrt11_fp16_builds_the_strongly_typed_onnx(gpu, onnx_pair, tmp_path):
    trt = gpu(**TRT11)
    fp32, fp16, recipe, _ = onnx_pair
    plan = build_engine(fp32, recipe, tmp_path / "c", strong_onnx=(fp16, None))  # sha256 computed when not given
    trt.OnnxParser.return_value.parse_from_file.assert_called_once_with(str(fp16))
    trt.Builder.return_value.create_network.assert_called_once_with(1 << STRONG_BIT)
    trt.Builder.return_value.create_builder_config.return_value.set_flag.assert_not_called()
    assert plan.stem == engine_cache_key("NVIDIA Orin", "8.7", "11.0.0", "fp16", PROFILES, sha256_file(fp16),
                                         typing="strong")
    assert json.loads(plan.with_suffix(".json").read_text())["builder_flags"] == []
    # the lookup the runtime does finds it with the same inputs
    assert trt_build.cached_engine(fp32, recipe, tmp_path / "c", strong_onnx=(fp16, sha256_file(fp16))) == plan


def test_tensorrt11_without_the_strong_typing_flag_builds_a_plain_network(gpu, onnx_pair, tmp_path):
    """Should TensorRT 11 drop the creation flag too (every network strongly typed), nothing is set."""
    trt = gpu(**dict(TRT11, strongly_typed_flag=False))
    fp32, fp16, recipe, _ = onnx_pair
    build_engine(fp32, recipe, tmp_path / "c", strong_onnx=(fp16, None))
    trt.Builder.return_value.create_network.assert_called_once_with(0)
    trt.Builder.return_value.create_builder_config.return_value.set_flag.assert_not_called()


def test_tensorrt11_fp16_without_a_fp16_onnx_says_what_to_do(gpu, onnx_pair, tmp_path):
    trt = gpu(**TRT11)
    fp32, _, recipe, _ = onnx_pair
    old = {k: v for k, v in recipe.items() if k != "fp16_onnx"}  # a bundle from before: fp32 ONNX + recipe only
    with pytest.raises(UnsupportedError) as e:
        build_engine(fp32, old, tmp_path / "c")
    msg = str(e.value)
    for part in ("TensorRT 11.0.0 is strongly typed only", "no BuilderFlag.FP16", "strongly typed fp16 ONNX",
                 "edgetool quantize BUNDLE --target trt --precision fp16", "--precision fp32"):
        assert part in msg, part
    trt.Builder.return_value.build_serialized_network.assert_not_called()
    with pytest.raises(UnsupportedError, match="strong typing was requested"):  # TensorRT 10, asked for strong
        engine_source(fake_trt(**TRT10), dict(old, typing="strong"), fp32)


def test_a_weakly_typed_request_on_tensorrt11_is_a_clear_error(gpu, onnx_pair, tmp_path):
    trt = gpu(**TRT11)
    fp32, fp16, recipe, _ = onnx_pair
    for precision in ("fp16", "int8", "fp32"):
        with pytest.raises(UnsupportedError) as e:
            build_engine(fp32, dict(recipe, precision=precision, typing="weak"), tmp_path / "c",
                         strong_onnx=(fp16, None))
        msg = str(e.value)
        assert f"weakly typed {precision} build" in msg and "TensorRT 11.0.0 is strongly typed only" in msg
        assert "removed in TensorRT 11" in msg and "TensorRT 10 device" in msg
    trt.Builder.assert_not_called()
    # the same request on TensorRT 10 is its fp16 path
    assert engine_source(fake_trt(**TRT10), dict(recipe, typing="weak"), fp32, "ab").flags == ("FP16",)
    with pytest.raises(UsageError, match="typing 'loose' is not one of weak, strong"):
        engine_source(fake_trt(**TRT10), dict(recipe, typing="loose"), fp32, "ab")


@pytest.mark.parametrize("shape, network, flags, typing", [
    (TRT10, 1 << STRONG_BIT, [], "strong"),  # explicit quantization on a strongly typed network
    (TRT11, 1 << STRONG_BIT, [], "strong"),
    (TRT8, 1 << EXPLICIT_BIT, ["INT8"], "weak"),  # no strong typing before TensorRT 9: INT8 flag, explicit batch
])
def test_int8_qdq_path_on_each_tensorrt(gpu, tmp_path, shape, network, flags, typing):

    trt = gpu(**shape)
    qdq = tiny_onnx(tmp_path / "qdq.onnx")  # stands in for the QDQ file: the fake parser does not read it
    recipe = {"precision": "int8", "workspace_mb": None, "profiles": PROFILES, "quantization": "explicit (QDQ ONNX)"}
    plan = build_engine(qdq, recipe, tmp_path / "c")
    trt.Builder.return_value.create_network.assert_called_once_with(network)
    config = trt.Builder.return_value.create_builder_config.return_value
    assert [c.args[0] for c in config.set_flag.call_args_list] == flags
    note = json.loads(plan.with_suffix(".json").read_text())
    assert (note["typing"], note["builder_flags"]) == (typing, flags)
    assert ("-int8-strong-" in plan.name) == (typing == "strong")
    assert not hasattr(trt, "IInt8Calibrator") or not trt.IInt8Calibrator.called  # no calibrator, ever


@pytest.mark.parametrize("shape, typing", [(TRT10, "weak"), (TRT11, "strong")])
def test_fp32_on_each_tensorrt(gpu, onnx_pair, tmp_path, shape, typing):
    trt = gpu(**shape)
    fp32, fp16, recipe, _ = onnx_pair
    build_engine(fp32, dict(recipe, precision="fp32"), tmp_path / "c", strong_onnx=(fp16, None))
    trt.OnnxParser.return_value.parse_from_file.assert_called_once_with(str(fp32))  # fp32 never uses the fp16 file
    trt.Builder.return_value.create_builder_config.return_value.set_flag.assert_not_called()
    assert trt.Builder.return_value.create_network.call_args.args[0] == (1 << STRONG_BIT if typing == "strong" else 0)


# -- finding the fp16 ONNX among the artifact's files ----------------------------------------------
def test_strong_onnx_of_finds_the_file_the_recipe_names(tmp_path):
    files = {"onnx/fp32/model.onnx": "aa", "trt/fp16/model.fp16.onnx": "bb"}
    located = []
    got = strong_onnx_of({"fp16_onnx": "model.fp16.onnx"}, files, lambda rel: located.append(rel) or tmp_path / rel)
    assert got == (tmp_path / "trt/fp16/model.fp16.onnx", "bb") and located == ["trt/fp16/model.fp16.onnx"]
    assert strong_onnx_of({"precision": "fp16"}, files, lambda rel: 1 / 0) is None  # nothing looked up
    with pytest.raises(EdgetoolError, match="names the fp16 ONNX 'other.onnx', which is not among the artifact's files"):
        strong_onnx_of({"fp16_onnx": "other.onnx"}, files, Path)


def test_bundle_build_hands_the_fp16_onnx_to_the_engine_build(tmp_path, monkeypatch):
    """`edgetool build` (and the backend) pass the artifact's fp16 ONNX, hash-checked, with the recipe."""
    from edgetool.runtime.backends.tensorrt import bundle_build
    from edgetool.runtime.bundle import Artifact, Bundle, GraphSpec, TensorSpec


    (tmp_path / "b/onnx/fp32").mkdir(parents=True)
    (tmp_path / "b/trt/fp16").mkdir(parents=True)
    fp32 = tiny_onnx(tmp_path / "b/onnx/fp32/model.onnx")
    fp16 = tmp_path / "b/trt/fp16/model.fp16.onnx"
    fp16.write_bytes(b"fp16 graph")
    graph = GraphSpec("model", (TensorSpec("x", "float32", ("batch", 8)),), (TensorSpec("y", "float32", ("batch", 4)),))
    files = {"onnx/fp32/model.onnx": sha256_file(fp32), "trt/fp16/model.fp16.onnx": sha256_file(fp16)}
    recipe = {"precision": "fp16", "workspace_mb": None, "profiles": PROFILES, "fp16_onnx": "model.fp16.onnx"}
    arts = [Artifact("model", "onnx", "fp32", "onnx", "onnx/fp32/model.onnx", {k: files[k] for k in list(files)[:1]}),
            Artifact("model", "trt", "fp16", "onnx", "onnx/fp32/model.onnx", files, dict(recipe, backends=["tensorrt"]))]
    manifest = {"schema_version": 2, "task": "text-classification", "family": "encoder", "graphs": {"model": graph.to_json()},
                "artifacts": [a.to_json() for a in arts]}
    (tmp_path / "b/edgetool.json").write_text(json.dumps(manifest))
    write_manifest_digest(tmp_path / "b")
    calls = []
    monkeypatch.setattr(trt_build, "check_engine_environment", lambda probe=None: None)
    monkeypatch.setattr(trt_build, "cached_engine", lambda *a, **k: (_ for _ in ()).throw(
        trt_build.EngineMissingError("not cached")))
    monkeypatch.setattr(trt_build, "build_engine", lambda onnx, recipe, cache_dir, **kw: calls.append(
        (onnx, recipe, kw)) or tmp_path / "e.plan")
    out = bundle_build.build_bundle(Bundle.load(tmp_path / "b"), bundle_build.TrtBuildOptions(strongly_typed=True))
    assert out == [{"graph": "model", "precision": "fp16", "engine": str(tmp_path / "e.plan"), "cached": False}]
    (onnx, built_recipe, kw), = calls
    assert onnx == fp32 and built_recipe == dict(recipe, typing="strong")
    assert kw["strong_onnx"] == (fp16, files["trt/fp16/model.fp16.onnx"]) and kw["onnx_sha256"] == files["onnx/fp32/model.onnx"]
    fp16.write_bytes(b"tampered")  # the fp16 ONNX is hash-checked like the rest
    with pytest.raises(EdgetoolError, match="sha256"):
        bundle_build.build_bundle(Bundle.load(tmp_path / "b"), bundle_build.TrtBuildOptions())


# -- doctor ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, says", [
    (TRT10, "TensorRT 10: fp16 builds from the fp32 ONNX with BuilderFlag.FP16"),
    (TRT11, "TensorRT 11: strongly typed only (no BuilderFlag.FP16/INT8): fp16 builds from the bundle's fp16 ONNX"),
])
def test_doctor_reports_the_tensorrt_major_version_and_what_it_implies(monkeypatch, shape, says):
    from edgetool import doctor as doc

    monkeypatch.setitem(sys.modules, "tensorrt", fake_trt(**shape))
    monkeypatch.setattr(doc, "_version", lambda module, dist=None, load=True: shape["version"])
    probe = trt_cuda.CudaProbe(driver="12.6", gpus=[trt_cuda.Gpu(0, "Orin", "8.7")], runtime="fake")
    row = doc._tensorrt(probe)
    assert row["status"] == "ok" and row["detail"].startswith(shape["version"]) and says in row["detail"]
    row = doc._tensorrt(trt_cuda.CudaProbe(driver=None))
    assert row["status"] == "partial" and says in row["detail"] and "lacks an NVIDIA GPU" in row["detail"]
