"""The generated Triton repository: every config.pbtxt parses with Triton's own model-config protobuf."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from edgetool.runtime.errors import BundleError, UsageError
from edgetool.serve.repository import RepositoryOptions, write_repository

# Parsed in the serving environment: tritonclient ships model_config_pb2 (and the protobuf it was made for).
PARSE = r"""
import json, sys
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2
out = {}
for path in sys.argv[1:]:
    cfg = text_format.Parse(open(path).read(), model_config_pb2.ModelConfig())
    out[path] = {"name": cfg.name, "backend": cfg.backend, "platform": cfg.platform,
                 "max_batch_size": cfg.max_batch_size, "dynamic": cfg.HasField("dynamic_batching"),
                 "instances": [g.count for g in cfg.instance_group],
                 "inputs": {t.name: [model_config_pb2.DataType.Name(t.data_type), list(t.dims), t.optional] for t in cfg.input},
                 "outputs": {t.name: [model_config_pb2.DataType.Name(t.data_type), list(t.dims)] for t in cfg.output},
                 "warmup": [{k: v.input_data_file for k, v in w.inputs.items()} for w in cfg.model_warmup],
                 "default_model_filename": cfg.default_model_filename,
                 "parameters": {k: v.string_value for k, v in cfg.parameters.items()}}
print(json.dumps(out))
"""


def _parse(serve_env, paths):
    import json

    proc = subprocess.run([str(serve_env.python), "-c", PARSE, *map(str, paths)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("task,target", [("text-classification", "onnx"), ("text-classification", "openvino"),
                                         ("object-detection", "onnx"), ("automatic-speech-recognition", "onnx")])
def test_every_config_parses_with_tritons_protobuf(bundle_dir, serve_env, tmp_path, task, target):
    from edgetool.runtime.bundle import Bundle

    bundle = Bundle.load(bundle_dir(task, target))
    repo = write_repository(bundle.root, tmp_path, RepositoryOptions(max_batch=4, instances=2,
                                                                     graph_backends=("onnxruntime", "openvino",
                                                                                     "tensorrt")
                                                                     if target == "onnx" else ()))
    configs = _parse(serve_env, sorted(tmp_path.glob("*/config.pbtxt")))
    assert len(configs) == len(repo.models) >= 2
    by_name = {c["name"]: (p, c) for p, c in configs.items()}
    _, pipe = by_name[repo.pipeline_model]
    assert pipe["backend"] == "python" and pipe["max_batch_size"] == 4 and pipe["dynamic"] and pipe["instances"] == [2]
    assert pipe["outputs"]["JSON"] == ["TYPE_STRING", [1]]
    assert pipe["warmup"], "the pipeline model warms up on a golden sample"
    graph_models = [c for c in configs.values() if c["backend"] != "python"]
    assert graph_models
    for c in graph_models:
        graph = bundle.graphs[c["name"].split(".")[1]]
        assert set(c["inputs"]) == {t.name for t in graph.inputs}
        assert set(c["outputs"]) == {t.name for t in graph.outputs}
        for t in graph.inputs + graph.outputs:
            io = c["inputs"].get(t.name) or c["outputs"][t.name]
            shape = t.shape[1:] if c["max_batch_size"] else t.shape
            assert io[1] == [-1 if isinstance(d, str) else d for d in shape], t
        if c["max_batch_size"]:
            assert c["dynamic"]
        assert c["warmup"] and all(set(w) == set(c["inputs"]) for w in c["warmup"])
        assert c["backend"] in ("onnxruntime", "openvino") or c["platform"] == "tensorrt_plan"
        assert (tmp_path / c["name"] / "1" / c["default_model_filename"]).exists() or c["platform"] == "tensorrt_plan"
    if target == "openvino":
        assert any(c["backend"] == "openvino" for c in graph_models)
        assert (tmp_path / f"{repo.pipeline_model}.model.openvino" / "1" / "model.bin").exists()


def test_writing_refuses_a_tampered_bundle_and_bad_options(bundle_dir, tmp_path):
    src = bundle_dir("text-classification")
    bad = tmp_path / "bad"
    shutil.copytree(src, bad)
    with open(bad / "tokenizer.json", "a") as f:
        f.write(" ")
    with pytest.raises(BundleError, match="sha256"):
        write_repository(bad, tmp_path / "repo")
    with pytest.raises(UsageError, match="--instances"):
        write_repository(src, tmp_path / "repo", RepositoryOptions(instances=0))
    write_repository(src, tmp_path / "repo2", RepositoryOptions(graphs=False))
    with pytest.raises(UsageError, match="--force"):
        write_repository(src, tmp_path / "repo2", RepositoryOptions(graphs=False))


def test_bls_configs_parse_and_name_their_graph_models(bundle_dir, serve_env, tmp_path):
    import json

    repo = write_repository(bundle_dir("text-classification"), tmp_path, RepositoryOptions(bls="onnxruntime"))
    configs = {c["name"]: c for c in _parse(serve_env, sorted(tmp_path.glob("*/config.pbtxt"))).values()}
    pipe = configs[repo.pipeline_model]
    graph_models = json.loads(pipe["parameters"]["graph_models"])
    assert graph_models == {"model": f"{repo.pipeline_model}.model.onnxruntime"}
    assert configs[graph_models["model"]]["backend"] == "onnxruntime"
    assert not pipe["warmup"]  # its warm-up would call a graph model Triton may not have loaded yet
