"""The BLS layout (`edgetool triton --bls onnxruntime`): the pipeline model keeps pre- and post-processing
and sends each graph to its own onnxruntime-backend model. The PyPI tritonserver has no onnxruntime backend,
so the Python model runs here against a stand-in of Triton's Python-backend API whose BLS calls execute the
repository's own per-graph model files (ONNX Runtime), and its answers must equal the in-process pipeline."""
from __future__ import annotations

import importlib.util
import json
import re
import sys
import types

import numpy as np
import pytest

from edgetool.check.golden import to_jsonable
from edgetool.runtime import pipeline
from edgetool.serve.repository import RepositoryOptions, write_repository


def _fake_backend(repo, calls):
    import onnxruntime as ort

    pb = types.ModuleType("triton_python_backend_utils")
    sessions = {}

    class Tensor:
        def __init__(self, name, arr):
            self._name, self._arr = name, np.asarray(arr)

        def name(self):
            return self._name

        def as_numpy(self):
            return self._arr

    class Response:
        def __init__(self, output_tensors=(), error=None):
            self.outputs, self._error = {t.name(): t for t in output_tensors}, error

        def has_error(self):
            return self._error is not None

        def error(self):
            return self._error

    class TritonError:
        def __init__(self, msg):
            self.msg = msg

        def message(self):
            return self.msg

    class InferenceRequest:
        def __init__(self, model_name, inputs, requested_output_names):
            self.model, self.inputs, self.outputs = model_name, inputs, requested_output_names

        def exec(self):
            calls.append(self.model)
            if self.model not in sessions:
                sessions[self.model] = ort.InferenceSession(str(repo / self.model / "1" / "model.onnx"),
                                                            providers=["CPUExecutionProvider"])
            got = sessions[self.model].run(self.outputs, {t.name(): t.as_numpy() for t in self.inputs})
            return Response([Tensor(n, a) for n, a in zip(self.outputs, got)])

    pb.Tensor, pb.InferenceResponse, pb.TritonError, pb.InferenceRequest = Tensor, Response, TritonError, InferenceRequest
    pb.get_output_tensor_by_name = lambda r, n: r.outputs.get(n)
    pb.get_input_tensor_by_name = lambda r, n: r.get(n)
    return pb


def _load_model(repo, name, monkeypatch, calls):
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", _fake_backend(repo, calls))
    spec = importlib.util.spec_from_file_location(f"bls_{name}", repo / name / "1" / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = (repo / name / "config.pbtxt").read_text()
    params = {k: json.loads(v) for k, v in re.findall(r'parameters \{ key: ("[^"]+") value \{ string_value: ("(?:[^"\\]|\\.)*")', text)}
    params = {json.loads(k) if k.startswith('"') else k: v for k, v in params.items()}
    outputs = re.findall(r'\{ name: "([A-Z_]+)" data_type', text.split("output [", 1)[1])
    model = module.TritonPythonModel()
    model.initialize({"model_config": json.dumps({"parameters": {k: {"string_value": v} for k, v in params.items()},
                                                  "output": [{"name": n} for n in outputs]}),
                      "model_repository": str(repo / name), "model_version": "1"})
    return module, model


@pytest.mark.parametrize("task", ["text-classification", "object-detection"])
def test_bls_model_answers_like_the_pipeline(bundle_dir, tmp_path, monkeypatch, task):
    from edgetool.check import golden as golden_io
    from edgetool.runtime.bundle import Bundle
    from edgetool.runtime.tasks import get_task
    from edgetool.serve.client import sample_tensors

    bundle = bundle_dir(task)
    repo = write_repository(bundle, tmp_path, RepositoryOptions(bls="onnxruntime"))
    assert f"{repo.pipeline_model}.model.onnxruntime" in repo.models
    calls: list[str] = []
    module, model = _load_model(tmp_path, repo.pipeline_model, monkeypatch, calls)
    assert all(type(e).__name__ == "TritonGraphEngine" for e in model.pipe.engines.values())
    local = pipeline(bundle)
    kind = get_task(task).input_kind
    golden = golden_io.load(Bundle.load(bundle))
    for s in golden.samples:
        item = s.args[0][0] if isinstance(s.args[0], list) else s.args[0]
        request = {k: module.pb_utils.Tensor(k, v) for k, v in sample_tensors(kind, item, s.kwargs).items()}
        response = model.execute([request])[0]
        assert not response.has_error(), response.error().message()
        got = json.loads(bytes(response.outputs["JSON"].as_numpy().reshape(-1)[0]).decode())
        assert got == to_jsonable(local(item, **s.kwargs))
    assert calls and set(calls) == {f"{repo.pipeline_model}.model.onnxruntime"}


def test_bls_needs_the_graph_models(bundle_dir, tmp_path):
    from edgetool.runtime.errors import UsageError

    with pytest.raises(UsageError, match="drop --no-graphs"):
        write_repository(bundle_dir("text-classification"), tmp_path, RepositoryOptions(bls="onnxruntime", graphs=False))
    with pytest.raises(UsageError, match="one of onnxruntime, openvino, tensorrt"):
        write_repository(bundle_dir("text-classification"), tmp_path / "x", RepositoryOptions(bls="torchscript"))


def test_bls_serves_an_int8_kv_cache(tmp_path, monkeypatch):
    """A decoder whose fused graph keeps an int8 KV cache (`--kv-cache int8`): the pipeline model feeds each graph
    model the dtypes of the artifact that model serves, and answers like the in-process pipeline."""
    import torch
    import transformers

    from cli_invoke import invoke_cli
    from edgetool.export.reference.generation import train_gpt2_tokenizer
    from edgetool.serve.client import sample_tensors

    ckpt = tmp_path / "llama"
    train_gpt2_tokenizer(ckpt)
    tok = transformers.AutoTokenizer.from_pretrained(str(ckpt))
    cfg = transformers.LlamaConfig(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                   hidden_size=64, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
                                   intermediate_size=128, max_position_embeddings=64)
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(cfg).eval().save_pretrained(str(ckpt))
    bundle = tmp_path / "b"
    r = invoke_cli("export", "--task", "text-generation", "--model", ckpt, "--precision", "int4", "--kv-cache", "int8",
                   "--out", bundle, "-q", "--no-parity-check")
    assert r.exit_code == 0, r.output
    repo = write_repository(bundle, tmp_path / "repo", RepositoryOptions(bls="onnxruntime", precision="int4"))
    calls: list[str] = []
    module, model = _load_model(tmp_path / "repo", repo.pipeline_model, monkeypatch, calls)
    fused = model.pipe.engines["decoder_fused"]
    assert fused.artifact.id == "onnx/int4/decoder_fused" and model.pipe.model.cache_dtype == np.int8
    kwargs = {"max_new_tokens": 6, "do_sample": False}
    request = {k: module.pb_utils.Tensor(k, v) for k, v in sample_tensors("text", "The weather was", kwargs).items()}
    response = model.execute([request])[0]
    assert not response.has_error(), response.error().message()
    got = json.loads(bytes(response.outputs["JSON"].as_numpy().reshape(-1)[0]).decode())
    assert got == to_jsonable(pipeline(bundle, precision="int4")("The weather was", **kwargs))
    assert f"{repo.pipeline_model}.decoder_fused.onnxruntime" in calls
