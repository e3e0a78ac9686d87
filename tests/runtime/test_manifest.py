"""The typed manifest: exact round trip, the bad field named by its path, version 1 refused with the
re-export command, unknown top-level keys refused. No export needed: manifests are written by hand."""
from __future__ import annotations

import copy
import dataclasses
import json

import pytest

from edgetool.bundle_writer import write_manifest_digest
from edgetool.runtime.bundle import Bundle
from edgetool.runtime.errors import BundleError
from edgetool.runtime.manifest import MANIFEST, SCHEMA_VERSION, Manifest, TokenizerSettings

GOOD = {
    "schema_version": 2,
    "task": "text-classification",
    "family": "encoder",
    "default_target": "onnx",
    "graphs": {"model": {"inputs": [{"name": "input_ids", "dtype": "int64", "shape": ["batch", "sequence"]}],
                         "outputs": [{"name": "logits", "dtype": "float32", "shape": ["batch", 2]}]}},
    "artifacts": [{"id": "onnx/fp32/model", "graph": "model", "target": "onnx", "precision": "fp32", "format": "onnx",
                   "path": "onnx/fp32/model.onnx", "files": {"onnx/fp32/model.onnx": "ab" * 32}, "options": {}},
                  {"id": "onnx/int8/model", "graph": "model", "target": "onnx", "precision": "int8", "format": "onnx",
                   "path": "onnx/int8/model.onnx", "files": {"onnx/int8/model.onnx": "cd" * 32},
                   "options": {"calibration_size": 0}}],
    "files": {"tokenizer.json": "ef" * 32},
    "labels": {"0": "NEGATIVE", "1": "POSITIVE"},
    "processing": {"tokenizer": {"model_max_length": 512, "padding_side": "right",
                                 "model_input_names": ["input_ids", "attention_mask"],
                                 "clean_up_tokenization_spaces": True, "pad_token": "[PAD]", "cls_token": "[CLS]"},
                   "problem_type": "single_label_classification", "sentence": {"pooling": "mean"}},
    "generation": {"kind": "decoder-only", "config": {"eos_token_id": 2}},
    "provenance": {"created": "2025-01-01T00:00:00+00:00", "tool": {"edgetool": "0.1"}, "versions": {"torch": None},
                   "exporter": "torchscript", "opset": 17, "source": "reference:bert-tiny-classifier",
                   "source_sha256": "12" * 32, "architecture": "BertForSequenceClassification", "model_type": None,
                   "export_options": {}, "calibration": {"onnxruntime/int8": {"size": 0, "note": "dynamic"}}},
    "parity": {"onnxruntime/fp32": {"artifact": "onnxruntime/fp32", "precision": "fp32", "outputs": [],
                                    "metric": {"name": "top1", "value": 1.0}, "passed": True, "reference": "torch"},
               "tensorrt/fp32": {"artifact": "tensorrt/fp32", "precision": "fp32", "skipped": "no TensorRT",
                                 "passed": None, "reference": "torch"}},
    "accuracy": {"reference": "onnxruntime/fp32", "rows": {"onnxruntime/int8": {"artifact": "onnxruntime/int8",
                                                                                "value": 0.99}},
                 "samples": 5, "golden": 3, "held_out": 2, "held_out_source": "built-in", "metric": "top1"},
}


def test_round_trip_is_exact():
    m = Manifest.from_json(copy.deepcopy(GOOD))
    assert m.to_json() == GOOD
    assert json.dumps(Manifest.from_json(m.to_json()).to_json()) == json.dumps(m.to_json())  # key order too
    assert m.schema_version == SCHEMA_VERSION == 2 and m.family == "encoder"
    assert m.processing.tokenizer.model_max_length == 512 and m.processing.tokenizer.unk_token is None
    assert m.processing.tokenizer.get("pad_token") == "[PAD]"  # the dict-style read pipelines use
    assert m.processing.extra["sentence"]["pooling"] == "mean"
    assert m.generation.kind == "decoder-only" and m.provenance.opset == 17
    assert m.parity["tensorrt/fp32"].skipped == "no TensorRT" and m.parity["onnxruntime/fp32"].passed is True
    assert m.accuracy.rows["onnxruntime/int8"].report["value"] == 0.99
    assert [a.id for a in m.artifacts] == ["onnx/fp32/model", "onnx/int8/model"]


def test_optional_sections_stay_absent():
    minimal = {"schema_version": 2, "task": "image-classification", "family": "vit", "graphs": {}, "artifacts": []}
    m = Manifest.from_json(copy.deepcopy(minimal))
    assert m.to_json() == minimal and m.processing is None and m.files is None


def test_sections_are_read_only():
    m = Manifest.from_json(copy.deepcopy(GOOD))
    with pytest.raises(TypeError):
        m.processing.extra["problem_type"] = "x"
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.task = "fill-mask"


def _set(d: dict, path: list, value):
    d = copy.deepcopy(d)
    node = d
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return d


@pytest.mark.parametrize("path,value,message", [
    (["artifacts", 1, "files"], ["x"], "artifacts[1].files: expected an object of path -> sha256, got list"),
    (["artifacts", 0, "files", "onnx/fp32/model.onnx"], 3, "artifacts[0].files['onnx/fp32/model.onnx']: expected a string, got integer"),
    (["artifacts", 0, "precision"], None, "artifacts[0].precision: expected a string, got null"),
    (["artifacts", 0, "id"], "onnx/fp16/model", "artifacts[0].id: is 'onnx/fp16/model'"),
    (["artifacts"], {}, "artifacts: expected a list of artifacts, got object"),
    (["graphs", "model", "inputs", 0, "shape"], "batch", "graphs.model.inputs[0].shape: expected a list of dims"),
    (["graphs", "model", "outputs", 0, "shape", 1], 2.5, "graphs.model.outputs[0].shape[1]: expected an integer or a dim name, got number"),
    (["graphs", "model", "inputs", 0, "dtype"], 1, "graphs.model.inputs[0].dtype: expected a string, got integer"),
    (["task"], 7, "task: expected a string, got integer"),
    (["family"], ["encoder"], "family: expected a string, got list"),
    (["labels", "0"], 0, "labels['0']: expected a string, got integer"),
    (["files"], [], "files: expected an object of path -> sha256, got list"),
    (["processing", "tokenizer", "model_max_length"], "512", "processing.tokenizer.model_max_length: expected an integer or null, got string"),
    (["processing", "tokenizer", "model_input_names"], "input_ids", "processing.tokenizer.model_input_names: expected a list of input names, got string"),
    (["processing", "tokenizer", "clean_up_tokenization_spaces"], 1, "processing.tokenizer.clean_up_tokenization_spaces: expected true or false or null, got integer"),
    (["processing", "tokenizer", "pad_tokn"], "[PAD]", "processing.tokenizer.pad_tokn: unknown field. Did you mean 'pad_token'?"),
    (["generation", "kind"], None, "generation.kind: expected a string, got null"),
    (["generation", "config"], [], "generation.config: expected an object, got list"),
    (["provenance", "opset"], "17", "provenance.opset: expected an integer or null, got string"),
    (["provenance", "calibration", "onnxruntime/int8"], 0, "provenance.calibration['onnxruntime/int8']: expected an object, got integer"),
    (["parity", "onnxruntime/fp32", "passed"], "yes", "parity['onnxruntime/fp32'].passed: expected true or false or null, got string"),
    (["parity", "onnxruntime/fp32", "outputs"], {}, "parity['onnxruntime/fp32'].outputs: expected a list of per-output results, got object"),
    (["accuracy", "rows", "onnxruntime/int8"], [], "accuracy.rows['onnxruntime/int8']: expected an object, got list"),
    (["accuracy", "samples"], "5", "accuracy.samples: expected an integer or null, got string"),
])
def test_bad_field_names_its_path(path, value, message):
    with pytest.raises(BundleError) as e:
        Manifest.from_json(_set(GOOD, path, value))
    assert str(e.value).startswith(f"{MANIFEST}: {message}"), str(e.value)


def test_missing_required_field_is_named():
    bad = copy.deepcopy(GOOD)
    del bad["family"]
    with pytest.raises(BundleError, match=r"edgetool.json: family is missing"):
        Manifest.from_json(bad)
    bad = copy.deepcopy(GOOD)
    del bad["artifacts"][0]["path"]
    with pytest.raises(BundleError, match=r"artifacts\[0\].path is missing"):
        Manifest.from_json(bad)


def test_unknown_top_level_key_is_refused():
    """Decision: refused, naming the key (a misspelled section would otherwise be silently ignored);
    new sections come with a new schema version."""
    with pytest.raises(BundleError, match=r"edgetool.json: procesing: unknown field. Did you mean 'processing'\?"):
        Manifest.from_json(_set(GOOD, ["procesing"], {}))


def test_version_1_is_refused_with_the_reexport_command(tmp_path):
    v1 = {k: v for k, v in copy.deepcopy(GOOD).items() if k != "family"}
    v1["schema_version"] = 1
    (tmp_path / MANIFEST).write_text(json.dumps(v1))
    write_manifest_digest(tmp_path)
    with pytest.raises(BundleError) as e:
        Bundle.load(tmp_path)
    msg = str(e.value)
    assert "has schema_version 1; this edgetool reads version 2" in msg
    assert "edgetool export --task text-classification --reference bert-tiny-classifier --out DIR --force" in msg


def test_bundle_reads_the_typed_manifest(tmp_path):
    (tmp_path / MANIFEST).write_text(json.dumps(GOOD))
    write_manifest_digest(tmp_path)
    for rel in Manifest.from_json(GOOD).file_hashes():  # a listed file that is missing is refused at load
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    b = Bundle.load(tmp_path)
    assert b.family == "encoder" and b.task == "text-classification" and isinstance(b.manifest, Manifest)
    assert b.processing["tokenizer"]["pad_token"] == "[PAD]" and b.generation == GOOD["generation"]
    assert b.id2label == {0: "NEGATIVE", 1: "POSITIVE"} and b.precisions == ["fp32", "int8"]
    assert isinstance(b.manifest.processing.tokenizer, TokenizerSettings)


def test_writer_refuses_a_manifest_it_could_not_read_back(tmp_path):
    from edgetool.bundle_writer import BundleWriter

    w = BundleWriter.create(tmp_path / "b", task="text-classification", family="encoder")
    try:
        with pytest.raises(BundleError, match=r"manifest being written: labels\['0'\]: expected a string"):
            w.manifest = w.manifest.merged({"labels": {"0": 1}})
    finally:
        w.abort()
    assert list(tmp_path.iterdir()) == []
