"""TensorRT: the GPU-free logic for real (profiles, --shapes, cache key and lookup, the export-side
artifact, the TensorRT-compatible QDQ, the missing-engine error), the engine build and I/O plumbing
against stand-ins for tensorrt and CUDA, and real engines only where TensorRT and a GPU exist."""
from __future__ import annotations

import ctypes
import json
import re
import types
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from edgetool.runtime.backends.tensorrt import build as trt_build, cache as trt_cache, cuda as trt_cuda, profiles as trt_profiles
from edgetool.runtime.backends import BackendOptions, backend_class
from edgetool.runtime.backends.tensorrt.backend import TensorRTBackend
from edgetool.runtime.bundle import Artifact, GraphSpec, TensorSpec
from edgetool.runtime.errors import EngineMissingError, UsageError
from edgetool.targets import BuildOptions, get_target
from edgetool.runtime.backends.tensorrt.build import build_engine
from edgetool.runtime.backends.tensorrt.cache import engine_cache_key, find_cached_engine
from edgetool.runtime.backends.tensorrt.profiles import derive_profiles, parse_shapes
from edgetool.bundle_writer import write_manifest_digest
from edgetool.runtime.bundle import sha256_file

TEXT = GraphSpec("model", (TensorSpec("input_ids", "int64", ("batch", "sequence")),
                           TensorSpec("attention_mask", "int64", ("batch", "sequence")),
                           TensorSpec("scale", "float32", (1,))),
                 (TensorSpec("logits", "float32", ("batch", 2)),))


def tiny_onnx(path: Path, dims=("batch", "features")) -> Path:
    """y = relu(x @ W + b): small enough to quantize and run in well under a second."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(8, 4)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.normal(size=(4,)).astype(np.float32), "B")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"], name="mm"), helper.make_node("Add", ["h", "B"], ["z"]),
             helper.make_node("Relu", ["z"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [dims[0], 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [dims[0], 4])], [w, b])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


# -- --shapes ---------------------------------------------------------------------------------------
def test_parse_shapes():
    got = parse_shapes(" input_ids = 1x8, 1x128, 8x512 ; attention_mask=1x8,1x128,8x512; pixel_values=1x3x224x224;")
    assert got["input_ids"] == ((1, 8), (1, 128), (8, 512))
    assert got["attention_mask"] == got["input_ids"]
    assert got["pixel_values"] == ((1, 3, 224, 224),) * 3  # one shape: fixed
    assert parse_shapes("") == {} and parse_shapes(None) == {}


@pytest.mark.parametrize("text, bad, why", [
    ("input_ids", "input_ids", "NAME=MIN,OPT,MAX"),
    ("=1x8", "=1x8", "NAME=MIN,OPT,MAX"),
    ("input_ids=1x8,1x128", "input_ids=1x8,1x128", "1 or 3 shapes"),
    ("ok=1x2;input_ids=1xa,1x2,1x3", "input_ids=1xa,1x2,1x3", "'1xa' is not a shape"),
    ("input_ids=1x8,1x128,512", "input_ids=1x8,1x128,512", "same number of dims"),
    ("input_ids=1x8,1x4,8x512", "input_ids=1x8,1x4,8x512", "min <= opt <= max"),
    ("x=-1x2", "x=-1x2", "negative"),
    ("x=1;x=2", "x=2", "given twice"),
])
def test_parse_shapes_names_the_bad_part(text, bad, why):
    with pytest.raises(UsageError) as e:
        parse_shapes(text)
    assert repr(bad) in str(e.value) and why in str(e.value) and "e.g." in str(e.value)


# -- profiles ---------------------------------------------------------------------------------------
def test_profiles_from_named_dims_and_typical_ranges():
    p = derive_profiles(TEXT, {"sequence": (1, 64, 256)})
    assert set(p) == {"input_ids", "attention_mask"}  # 'scale' is static: no profile
    assert p["input_ids"] == {"min": [1, 1], "opt": [1, 64], "max": [16, 256]}
    assert p["attention_mask"] == p["input_ids"]


def test_sequence_ranges_follow_the_tokenizer_limit():
    typical = trt_profiles.typical_from_processing({"tokenizer": {"model_max_length": 64}})
    assert derive_profiles(TEXT, typical)["input_ids"] == {"min": [1, 1], "opt": [1, 64], "max": [16, 64]}
    assert "past_sequence" not in typical  # an encoder task: only the sequences are capped
    assert trt_profiles.typical_from_processing({"tokenizer": {"model_max_length": 10**30}}) == {}
    assert trt_profiles.typical_from_processing(None, {"sequence": (1, 8, 16)}) == {"sequence": (1, 8, 16)}


def _sums(t):
    return [t["past_sequence"][i] + t["sequence"][i] - t["total_sequence"][i] for i in range(3)]


@pytest.mark.parametrize("limit", [None, 1, 2, 64, 448, 1024, 4096])
def test_decoder_ranges_keep_total_equal_past_plus_sequence(limit):
    """TensorRT checks the graph's shape constraints (Concat(past, new) = total) at min, opt and max."""
    from edgetool.runtime.tasks import all_tasks

    processing = {"tokenizer": {"model_max_length": limit}} if limit else {}
    decoders = [s for s in all_tasks() if "past_sequence" in s.typical_dims]
    assert {"text-generation", "summarization", "automatic-speech-recognition"} <= {s.name for s in decoders}
    for spec in decoders:
        t = {**trt_profiles.TYPICAL_DIMS, **trt_profiles.typical_from_processing(processing, spec.typical_dims)}
        assert _sums(t) == [0, 0, 0], (spec.name, t)
        for dim in ("sequence", "past_sequence", "total_sequence"):
            lo, opt, hi = t[dim]
            assert 0 <= lo <= opt <= hi and (limit is None or hi <= limit), (spec.name, dim, t[dim])
        assert t["sequence"][1] == 1  # opt is a decode step
        if limit and limit >= 64:
            assert t["past_sequence"][2] >= t["total_sequence"][2] // 2  # most of the window is the cache
    assert _sums(trt_profiles.TYPICAL_DIMS) == [0, 0, 0]


def test_profiles_of_a_task_come_from_the_registry():
    from edgetool.runtime.tasks import get_task

    gen = GraphSpec("model", (TensorSpec("input_ids", "int64", ("batch", "sequence")),
                              TensorSpec("attention_mask", "int64", ("batch", "total_sequence")),
                              TensorSpec("past_key_values.0.key", "float32", ("batch", 2, "past_sequence", 16))), ())
    typical = trt_profiles.typical_from_processing({"tokenizer": {"model_max_length": 1024}},
                                                get_task("generate").typical_dims)
    p = derive_profiles(gen, typical)
    assert p["input_ids"]["opt"] == [1, 1] and p["attention_mask"]["opt"] == [1, 128]
    assert p["past_key_values.0.key"]["opt"] == [1, 2, 127, 16]
    assert p["input_ids"]["max"][1] + p["past_key_values.0.key"]["max"][2] == p["attention_mask"]["max"][1]
    # an encoder task has no table of its own: the defaults, capped at its tokenizer
    assert get_task("classify").typical_dims == {}


def test_one_explicit_shape_sizes_every_input_sharing_its_dims():
    p = derive_profiles(TEXT, shapes=parse_shapes("input_ids=1x8,2x128,8x384"))
    assert p["attention_mask"] == p["input_ids"] == {"min": [1, 8], "opt": [2, 128], "max": [8, 384]}


def test_dynamo_symbols_fall_back_by_position_and_stay_consistent():
    g = GraphSpec("decoder", (TensorSpec("input_ids", "int64", ("s21", "s50")),
                              TensorSpec("attention_mask", "int64", ("s21", "s81")),
                              TensorSpec("past_key_values.0.key", "float32", ("s21", 2, "s57", 16)),
                              TensorSpec("pixel_values", "float32", ("?", 3, 32, 32))), ())
    p = derive_profiles(g)
    batch, seq, past = trt_profiles.TYPICAL_DIMS["batch"], trt_profiles.TYPICAL_DIMS["sequence"], \
        trt_profiles.TYPICAL_DIMS["past_sequence"]
    assert p["input_ids"] == {"min": [batch[0], seq[0]], "opt": [batch[1], seq[1]], "max": [batch[2], seq[2]]}
    assert p["past_key_values.0.key"] == {"min": [batch[0], 2, 0, 16], "opt": [batch[1], 2, past[1], 16],
                                          "max": [batch[2], 2, past[2], 16]}
    assert p["pixel_values"]["max"] == [batch[2], 3, 32, 32]
    # a decoder's mask spans cache + new tokens: with a task's decoder ranges every point is consistent
    from edgetool.runtime.tasks import get_task

    for limit in (128, 1024):
        typical = trt_profiles.typical_from_processing({"tokenizer": {"model_max_length": limit}},
                                                    get_task("text-generation").typical_dims)
        q = derive_profiles(g, typical)
        for point in ("min", "opt", "max"):
            assert q["input_ids"][point][1] + q["past_key_values.0.key"][point][2] == q["attention_mask"][point][1]
        assert q["attention_mask"]["max"][1] == limit
    # seq2seq: the source side (encoder graph, encoder states and mask, cross-attention cache) runs at the
    # source's length; only the decoder's own cache is past_sequence
    typical = {**get_task("summarization").typical_dims, "encoder_sequence": (1, 50, 100)}
    dec = GraphSpec("decoder", (TensorSpec("decoder_input_ids", "int64", ("s0", "s1")),
                                TensorSpec("encoder_attention_mask", "int64", ("s0", "s9")),
                                TensorSpec("past_key_values.0.decoder.key", "float32", ("s0", 2, "s3", 16)),
                                TensorSpec("past_key_values.0.encoder.key", "float32", ("s0", 2, "s4", 16)),
                                TensorSpec("encoder_hidden_states", "float32", ("s0", "s2", 32))), ())
    q = derive_profiles(dec, typical)
    for name, axis in (("encoder_attention_mask", 1), ("past_key_values.0.encoder.key", 2), ("encoder_hidden_states", 1)):
        assert [q[name][k][axis] for k in ("min", "opt", "max")] == [1, 50, 100], name
    assert q["past_key_values.0.decoder.key"]["opt"][2] == typical["past_sequence"][1]
    assert q["decoder_input_ids"]["opt"] == [1, 1]
    img = GraphSpec("encoder", (TensorSpec("pixel_values", "float32", ("s0", 3, "s1", "s2")),
                                TensorSpec("input_features", "float32", ("s0", 80, "s3")),
                                TensorSpec("input_values", "float32", ("s0", "s4"))), ())
    q = derive_profiles(img)
    assert q["pixel_values"]["max"] == [batch[2], 3, *(trt_profiles.TYPICAL_DIMS[d][2] for d in ("height", "width"))]
    assert q["input_features"]["opt"][2] == trt_profiles.TYPICAL_DIMS["frames"][1]
    assert q["input_values"]["min"][1] == trt_profiles.TYPICAL_DIMS["samples"][0]
    enc = GraphSpec("encoder", (TensorSpec("input_ids", "int64", ("batch", "sequence")),
                                TensorSpec("attention_mask", "int64", ("s0", "s1"))), ())
    q = derive_profiles(enc, typical)
    assert q["input_ids"]["max"] == q["attention_mask"]["max"] == [batch[2], 100]
    assert derive_profiles(TEXT)["attention_mask"]["max"][1] == seq[2]  # no cache: the mask is the sequence
    # s21 is one symbol: sizing it through --shapes sizes it everywhere
    p = derive_profiles(g, shapes={"input_ids": ((1, 1), (2, 1), (4, 1))})
    assert p["past_key_values.0.key"]["max"][0] == p["attention_mask"]["max"][0] == 4


@pytest.mark.parametrize("shapes, why", [
    ({"token_ids": ((1, 1), (1, 1), (1, 1))}, "does not have. Its inputs are: input_ids, attention_mask, scale"),
    ({"input_ids": ((1,), (1,), (1,))}, "gives 'input_ids' 1 dims; the graph's input has 2"),
    ({"scale": ((2,), (2,), (2,))}, "fixed at 1"),
    ({"input_ids": ((1, 9), (1, 8), (1, 9))}, "min <= opt <= max"),
])
def test_profiles_reject_shapes_that_do_not_fit_the_graph(shapes, why):
    with pytest.raises(UsageError, match=re.escape(why)):
        derive_profiles(TEXT, shapes=shapes)


# -- the engine cache -------------------------------------------------------------------------------
KEY = dict(gpu_name="NVIDIA Jetson AGX Orin / 64GB", compute_capability="8.7", trt_version="10.3.0.30",
           precision="fp16", profile={"input_ids": {"min": [1, 1], "opt": [1, 128], "max": [16, 512]}},
           onnx_sha256="ab" * 32)


def test_cache_key_is_stable_filename_safe_and_sensitive_to_every_field():
    key = engine_cache_key(**KEY)
    assert re.fullmatch(r"[A-Za-z0-9._-]+", key) and len(key) < 120
    assert key.startswith("NVIDIA_Jetson_AGX_Orin_64GB-sm87-trt10.3.0.30-fp16-")
    # the same profile written with tuples, other key order, or the capability as a tuple: same key
    same = dict(KEY, compute_capability=(8, 7),
                profile={"input_ids": {"max": (16, 512), "opt": (1, 128), "min": (1, 1)}})
    assert engine_cache_key(**same) == key
    changed = {"gpu_name": "NVIDIA A100", "compute_capability": "8.0", "trt_version": "10.4.0",
               "precision": "int8", "profile": {"input_ids": {"min": [1, 1], "opt": [1, 128], "max": [16, 1024]}},
               "onnx_sha256": "cd" * 32}
    keys = {engine_cache_key(**dict(KEY, **{k: v})) for k, v in changed.items()}
    assert key not in keys and len(keys) == len(changed)


def test_find_cached_engine(tmp_path):
    key = engine_cache_key(**KEY)
    assert find_cached_engine(tmp_path / "absent", key) is None
    (tmp_path / f"{key}.plan").write_bytes(b"")  # an interrupted write is not an engine
    assert find_cached_engine(tmp_path, key) is None
    (tmp_path / f"{key}.plan").write_bytes(b"plan")
    assert find_cached_engine(tmp_path, key) == tmp_path / f"{key}.plan"


def test_cached_engine_hit_miss_and_last_built_recipe(tmp_path, fake_gpu):
    """The lookup the runtime does before it may build: key from this GPU + TensorRT + recipe + ONNX hash."""
    fake_gpu(types.SimpleNamespace(__version__="10.3.0"))
    onnx_path = tiny_onnx(tmp_path / "m.onnx")
    sha = sha256_file(onnx_path)
    recipe = {"precision": "fp16", "workspace_mb": None, "profiles": {"x": {"min": [1, 8], "opt": [2, 8], "max": [4, 8]}}}
    with pytest.raises(EngineMissingError, match=r"No TensorRT engine for m.onnx \(fp16\) on this NVIDIA Orin "
                                                 r"with TensorRT 10.3.0 in .*edgetool build BUNDLE.*--build-engine"):
        trt_build.cached_engine(onnx_path, recipe, tmp_path)
    key = engine_cache_key("NVIDIA Orin", "8.7", "10.3.0", "fp16", recipe["profiles"], sha)
    (tmp_path / f"{key}.plan").write_bytes(b"fake engine")
    assert trt_build.cached_engine(onnx_path, recipe, tmp_path) == tmp_path / f"{key}.plan"
    assert trt_build.cached_engine(onnx_path, recipe, tmp_path, onnx_sha256=sha) == tmp_path / f"{key}.plan"
    for changed in (dict(recipe, precision="fp32"), dict(recipe, profiles={"x": {"min": [1, 8], "opt": [1, 8], "max": [4, 8]}})):
        with pytest.raises(EngineMissingError):
            trt_build.cached_engine(onnx_path, changed, tmp_path)
    with pytest.raises(EngineMissingError):  # another ONNX (its hash) is another engine
        trt_build.cached_engine(onnx_path, recipe, tmp_path, onnx_sha256="cd" * 32)
    # `edgetool build --shapes` built other profiles than the manifest's: the note it leaves points the runtime there
    other = dict(recipe, profiles={"x": {"min": [1, 8], "opt": [8, 8], "max": [32, 8]}})
    other_key = engine_cache_key("NVIDIA Orin", "8.7", "10.3.0", "fp16", other["profiles"], sha)
    (tmp_path / f"{other_key}.plan").write_bytes(b"other engine")
    (tmp_path / f"{key}.plan").unlink()
    with pytest.raises(EngineMissingError):
        trt_build.cached_engine(onnx_path, recipe, tmp_path)
    trt_cache._atomic_write(trt_cache._recipe_note(tmp_path, sha, "fp16"), json.dumps(other).encode())
    assert trt_build.cached_engine(onnx_path, recipe, tmp_path) == tmp_path / f"{other_key}.plan"
    with pytest.raises(EngineMissingError):  # the note is per precision
        trt_build.cached_engine(onnx_path, dict(recipe, precision="fp32"), tmp_path)


def test_recipe_round_trips_through_the_manifest(tmp_path):
    from edgetool.runtime.bundle import Bundle

    src = tiny_onnx(tmp_path / "src.onnx")
    built = get_target("trt").build(src, tmp_path / "b/trt/fp16", "model",
                                    BuildOptions(precision="fp16", shapes=parse_shapes("x=1x8,2x8,4x8"), workspace_mb=64))
    art = Artifact("model", "trt", "fp16", built.format, f"trt/fp16/{built.path}",
                   {f"trt/fp16/{built.path}": sha256_file(tmp_path / "b/trt/fp16/model.onnx")}, built.options)
    graph = GraphSpec("model", (TensorSpec("x", "float32", ("batch", 8)),), (TensorSpec("y", "float32", ("batch", 4)),))
    manifest = {"schema_version": 2, "task": "text-classification", "family": "encoder", "graphs": {"model": graph.to_json()},
                "artifacts": [art.to_json()]}
    (tmp_path / "b/edgetool.json").write_text(json.dumps(manifest))
    write_manifest_digest(tmp_path / "b")
    loaded = Bundle.load(tmp_path / "b").artifacts[0]
    recipe = trt_profiles.recipe_from_options(loaded.options, graph, "fp16")
    assert recipe == {"precision": "fp16", "workspace_mb": 64,
                      "profiles": {"x": {"min": [1, 8], "opt": [2, 8], "max": [4, 8]}}}
    assert loaded.options["backends"] == ["tensorrt"]  # fp16 happens in the engine build only
    # the same key from the recipe before and after the JSON round trip
    assert engine_cache_key("g", "8.7", "10", "fp16", recipe["profiles"], "ab") == \
        engine_cache_key("g", "8.7", "10", "fp16", built.options["profiles"], "ab")


# -- export side ------------------------------------------------------------------------------------
def test_target_writes_the_onnx_and_the_recipe(tmp_path):
    target = get_target("tensorrt")
    assert (target.name, target.format, target.backend, target.precisions) == \
        ("trt", "tensorrt-plan", "tensorrt", ("fp32", "fp16", "int8"))
    target.check_environment()  # export needs no TensorRT
    src = tiny_onnx(tmp_path / "src.onnx")
    built = target.build(src, tmp_path / "trt/fp16", "model",
                         BuildOptions(precision="fp16", shapes=parse_shapes("x=1x8,2x8,4x8"), workspace_mb=512))
    assert (built.format, built.path, built.files) == ("onnx", "model.onnx", ["model.onnx"])
    assert (tmp_path / "trt/fp16/model.onnx").read_bytes() == src.read_bytes()  # fp16 happens in TensorRT
    assert built.options["precision"] == "fp16" and built.options["workspace_mb"] == 512
    assert built.options["profiles"] == {"x": {"min": [1, 8], "opt": [2, 8], "max": [4, 8]}}
    static = target.build(src, tmp_path / "trt/fp32", "model", BuildOptions(static_shapes={"batch": 1}))
    assert static.options["profiles"]["x"] == {"min": [1, 8], "opt": [1, 8], "max": [1, 8]}


def test_int8_is_a_symmetric_qdq_onnx_tensorrt_can_parse(tmp_path):
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    src = tiny_onnx(tmp_path / "src.onnx")
    feeds = [{"x": np.random.default_rng(i).normal(size=(2, 8)).astype(np.float32)} for i in range(16)]
    calibration = types.SimpleNamespace(feeds=lambda graph: feeds)
    from edgetool.quantize.builds import build

    target = get_target("trt")
    with pytest.raises(UsageError, match="--calibration"):
        build(target, src, tmp_path / "no-calib", "model", BuildOptions(precision="int8"))
    built = build(target, src, tmp_path / "trt/int8", "model", BuildOptions(precision="int8"), calibration)
    assert built.options["quantization"].startswith("explicit") and built.options["method"] == "static"
    model = onnx.load(str(tmp_path / "trt/int8/model.onnx"))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert any(n.op_type == "QuantizeLinear" for n in qdq)
    for n in qdq:  # TensorRT: int8 only, zero points 0, no int32 (bias) dequantization
        zero = inits.get(n.input[2]) if len(n.input) > 2 else None
        assert zero is not None and zero.dtype == np.int8 and not zero.any(), n.name
        assert n.input[0] not in inits or inits[n.input[0]].dtype != np.int32
    x = feeds[0]["x"]
    ref = ort.InferenceSession(str(src)).run(None, {"x": x})[0]
    got = ort.InferenceSession(str(tmp_path / "trt/int8/model.onnx")).run(None, {"x": x})[0]
    assert np.abs(got - ref).max() < 0.1 * np.abs(ref).max()
    # an already-quantized (QDQ) source is used as it is
    again = build(target, tmp_path / "trt/int8/model.onnx", tmp_path / "again", "model", BuildOptions(precision="int8"))
    assert (tmp_path / "again/model.onnx").read_bytes() == (tmp_path / "trt/int8/model.onnx").read_bytes()
    assert again.options["profiles"] == built.options["profiles"]


# -- no TensorRT here -------------------------------------------------------------------------------
def test_missing_tensorrt_names_what_is_missing_and_the_fix(tmp_path):
    with pytest.raises(EngineMissingError) as e:
        trt_build.check_engine_environment(trt_cuda.CudaProbe(driver_error="libcuda not found"))
    msg = str(e.value)
    for part in ("tensorrt Python package", "CUDA driver (libcuda)", "CUDA runtime", "edgetool build BUNDLE"):
        assert part in msg
    with pytest.raises(EngineMissingError, match="an NVIDIA GPU .cuInit failed"):
        trt_build.check_engine_environment(trt_cuda.CudaProbe(driver="12.4", driver_error="cuInit failed",
                                                               runtime="libcudart 12.4"))


def test_backend_imports_everywhere_and_fails_clearly_on_instantiation(tmp_path):
    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    assert backend_class("trt") is TensorRTBackend and TensorRTBackend.formats == ("tensorrt-plan", "onnx")
    with pytest.raises(EngineMissingError) as e:
        TensorRTBackend(tiny_onnx(tmp_path / "m.onnx"), TEXT)
    assert "tensorrt Python package" in str(e.value) and "edgetool build BUNDLE" in str(e.value)


# -- the build and the run, against stand-ins for tensorrt and CUDA --------------------------------
@pytest.fixture
def fake_gpu(monkeypatch):
    probe = trt_cuda.CudaProbe(driver="12.6", gpus=[trt_cuda.Gpu(0, "NVIDIA Orin", "8.7")], runtime="fake")
    monkeypatch.setattr(trt_cuda, "probe_cuda", lambda: probe)
    monkeypatch.setattr(trt_build, "_LOGGER", None)

    def use(trt):
        monkeypatch.setattr(trt_build, "check_engine_environment", lambda probe=None: trt)
    return use


def test_build_engine_writes_a_plain_plan_and_a_timing_cache(tmp_path, fake_gpu):
    trt = mock.MagicMock(__version__="10.3.0")
    builder = trt.Builder.return_value
    network = builder.create_network.return_value
    network.num_inputs = 1
    network.get_input.return_value = types.SimpleNamespace(name="x", shape=(-1, 8))
    trt.OnnxParser.return_value.parse_from_file.return_value = True
    config = builder.create_builder_config.return_value
    config.get_timing_cache.return_value.serialize.return_value = b"TIMING"
    builder.build_serialized_network.return_value = b"PLAN"
    fake_gpu(trt)
    onnx_path = tiny_onnx(tmp_path / "m.onnx")
    recipe = {"precision": "fp16", "workspace_mb": 512, "profiles": {"x": {"min": [1, 8], "opt": [2, 8], "max": [4, 8]}}}

    plan = build_engine(onnx_path, recipe, tmp_path / "cache")
    assert plan.read_bytes() == b"PLAN" and plan.parent == tmp_path / "cache"  # no header of ours
    assert plan.name.startswith("NVIDIA_Orin-sm87-trt10.3.0-fp16-") and plan.suffix == ".plan"
    assert [p.read_bytes() for p in (tmp_path / "cache").glob("timing-*.cache")] == [b"TIMING"]
    assert [json.loads(p.read_text()) for p in (tmp_path / "cache").glob("last-*.json")] == [recipe]
    builder.create_optimization_profile.return_value.set_shape.assert_called_once_with("x", [1, 8], [2, 8], [4, 8])
    config.set_flag.assert_called_once_with(trt.BuilderFlag.FP16)
    config.set_memory_pool_limit.assert_called_once_with(trt.MemoryPoolType.WORKSPACE, 512 << 20)
    config.create_timing_cache.assert_called_once_with(b"")
    assert not list((tmp_path / "cache").glob(".*tmp"))

    builder.build_serialized_network.reset_mock()
    assert build_engine(onnx_path, recipe, tmp_path / "cache") == plan  # cached
    builder.build_serialized_network.assert_not_called()
    build_engine(onnx_path, recipe, tmp_path / "cache", force=True)
    config.create_timing_cache.assert_called_with(b"TIMING")  # the persisted timing cache is reused

    network.get_input.return_value = types.SimpleNamespace(name="other", shape=(-1, 8))
    with pytest.raises(UsageError, match="no profile for dynamic input 'other'"):
        build_engine(onnx_path, recipe, tmp_path / "cache", force=True)


class FakeCuda:
    """Host memory standing in for device memory: copies are memmoves."""

    def __init__(self):
        self.blocks = {}

    def malloc(self, nbytes):
        block = np.zeros(nbytes, np.uint8)
        self.blocks[block.ctypes.data] = block
        return block.ctypes.data

    def free(self, ptr):
        del self.blocks[ptr]

    def copy(self, dst, src, nbytes, kind, stream):
        ctypes.memmove(dst, src, nbytes)

    def stream_create(self):
        return 1

    def stream_sync(self, stream):
        pass

    def stream_destroy(self, stream):
        pass


class FakeEngine:
    """y = 2 * x, with TensorRT 8's INT32 input where the graph says int64; profile batch 1..4."""

    num_io_tensors = 2
    dtypes = {"x": np.int32, "y": np.float32}

    def get_tensor_name(self, i):
        return "xy"[i]

    def get_tensor_mode(self, name):
        return "input" if name == "x" else "output"

    def get_tensor_dtype(self, name):
        return self.dtypes[name]

    def get_tensor_profile_shape(self, name, profile):
        return [1, 3], [2, 3], [4, 3]

    def create_execution_context(self):
        state: dict = {}

        class Context:
            def set_input_shape(self, name, shape):
                state["shape"] = tuple(shape)
                return 1 <= shape[0] <= 4 and shape[1] == 3

            def set_tensor_address(self, name, ptr):
                state[name] = ptr

            def get_tensor_shape(self, name):
                return state["shape"]

            def execute_async_v3(self, stream):
                n = int(np.prod(state["shape"]))
                x = np.ctypeslib.as_array((ctypes.c_int32 * n).from_address(state["x"]))
                np.ctypeslib.as_array((ctypes.c_float * n).from_address(state["y"]))[:] = 2 * x
                return True
        return Context()


def test_backend_runs_an_engine_through_the_named_tensor_api(tmp_path, fake_gpu, monkeypatch):
    trt = types.SimpleNamespace(__version__="8.6.1", TensorIOMode=types.SimpleNamespace(INPUT="input"),
                                nptype=lambda dtype: dtype, Logger=mock.MagicMock(),
                                Runtime=lambda logger: types.SimpleNamespace(
                                    deserialize_cuda_engine=lambda data: FakeEngine() if data == b"PLAN" else None))
    fake_gpu(trt)
    cuda = FakeCuda()
    monkeypatch.setattr("edgetool.runtime.backends.tensorrt.cuda.cuda_api", lambda: cuda)
    (tmp_path / "m.plan").write_bytes(b"PLAN")
    built = []

    def fake_build(onnx_path, recipe, cache_dir, onnx_sha256=None, force=False, strong_onnx=None):
        assert strong_onnx is None  # this artifact has no strongly typed fp16 ONNX
        built.append((recipe, onnx_sha256))
        return tmp_path / "m.plan"
    monkeypatch.setattr(trt_build, "build_engine", fake_build)
    graph = GraphSpec("model", (TensorSpec("x", "int64", ("batch", 3)),), (TensorSpec("y", "float32", ("batch", 3)),))
    recipe = {"precision": "fp16", "workspace_mb": None, "profiles": {"x": {"min": [1, 3], "opt": [2, 3], "max": [4, 3]}}}
    artifact = Artifact("model", "trt", "fp16", "onnx", "trt/fp16/model.onnx",
                        {"trt/fp16/model.onnx": "ab" * 32}, dict(recipe, engine="on the device"))
    # not cached, and not asked to build: a clear error saying how
    backend = TensorRTBackend(tiny_onnx(tmp_path / "m.onnx"), graph, BackendOptions(cache_dir=str(tmp_path / "c")))
    backend.artifact = artifact
    with pytest.raises(EngineMissingError, match=r"No TensorRT engine for m.onnx \(fp16\) on this NVIDIA Orin.*edgetool build"):
        backend.run({"x": np.zeros((1, 3), np.int64)})
    assert built == []

    backend = TensorRTBackend(tmp_path / "m.onnx", graph, BackendOptions(extra={"build": True}))
    backend.artifact = artifact
    x = np.arange(6, dtype=np.int64).reshape(2, 3)
    y = backend.run({"x": x})["y"]
    assert built == [(recipe, "ab" * 32)]  # built lazily from the artifact's own recipe
    assert y.dtype == np.float32 and y.tolist() == (2 * x).tolist()
    assert backend.run({"x": x[:1]})["y"].tolist() == [[0, 2, 4]] and len(built) == 1
    with pytest.raises(UsageError, match=r"outside the engine's profile \(min \[1, 3\], max \[4, 3\]\).*--shapes"):
        backend.run({"x": np.zeros((5, 3), np.int64)})
    backend.close()
    assert cuda.blocks == {}


# -- real engines: only where TensorRT and an NVIDIA GPU exist --------------------------------------
@pytest.mark.parametrize("precision, atol", [("fp32", 1e-4), ("fp16", 5e-2)])
def test_real_engine_matches_onnxruntime(tmp_path, precision, atol):
    pytest.importorskip("tensorrt", reason="TensorRT needs an NVIDIA GPU and NVIDIA's package index; CI has neither")
    try:
        trt_build.check_engine_environment()
    except EngineMissingError as e:
        pytest.skip(str(e))
    import onnxruntime as ort

    src = tiny_onnx(tmp_path / "m.onnx")
    built = get_target("trt").build(src, tmp_path / "trt", "model", BuildOptions(precision=precision))
    graph = GraphSpec("model", (TensorSpec("x", "float32", ("batch", 8)),), (TensorSpec("y", "float32", ("batch", 4)),))
    options = BackendOptions(cache_dir=str(tmp_path / "cache"), extra={"trt_recipe": built.options})
    backend = TensorRTBackend(tmp_path / "trt/model.onnx", graph, options)
    plan = backend.prepare()
    assert plan.parent == tmp_path / "cache" and plan.read_bytes()[:4] != b"{"  # a plain plan, no JSON header
    session = ort.InferenceSession(str(src))
    for batch in (1, 3):
        x = np.random.default_rng(batch).normal(size=(batch, 8)).astype(np.float32)
        np.testing.assert_allclose(backend.run({"x": x})["y"], session.run(None, {"x": x})[0], atol=atol)
    backend.close()


def test_ctypes_cuda_runtime_on_this_machine():
    """The libcudart signatures for real: a round trip through device memory where a GPU is visible,
    otherwise CUDA's own error as one EdgetoolError (no crash, no raw ctypes failure)."""
    from edgetool.runtime.backends.tensorrt.cuda import D2H, H2D, _CudaCtypes
    from edgetool.runtime.errors import EdgetoolError

    lib = trt_cuda.load_cudart()
    if lib is None:
        pytest.skip("no libcudart on this machine (CUDA toolkit / JetPack / nvidia-cuda-runtime wheel)")
    cuda = _CudaCtypes(lib)
    if not trt_cuda.probe_cuda().gpus:
        with pytest.raises(EdgetoolError, match=r"CUDA cudaMalloc failed: .+ \(error \d+\)"):
            cuda.malloc(16)
        return
    x = np.arange(12, dtype=np.float32)
    y = np.zeros_like(x)
    stream, ptr = cuda.stream_create(), cuda.malloc(x.nbytes)
    cuda.copy(ptr, x.ctypes.data, x.nbytes, H2D, stream)
    cuda.copy(y.ctypes.data, ptr, x.nbytes, D2H, stream)
    cuda.stream_sync(stream)
    cuda.free(ptr)
    cuda.stream_destroy(stream)
    assert y.tolist() == x.tolist()
