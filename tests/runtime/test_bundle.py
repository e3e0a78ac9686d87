"""Bundle round trip, atomic writes and tamper detection."""
from __future__ import annotations

import json
import shutil

import pytest

from edgetool.runtime import pipeline
from edgetool.bundle_writer import write_manifest_digest
from edgetool.runtime.bundle import MANIFEST, Bundle
from edgetool.runtime.errors import BundleError


@pytest.fixture
def copy(bundle_dir, tmp_path):
    dst = tmp_path / "bundle"
    shutil.copytree(bundle_dir("text-classification", target="openvino"), dst)
    return dst


def test_round_trip_manifest(copy):
    b = Bundle.load(copy)
    m = b.manifest
    assert m.schema_version == 2 and m.task == "text-classification" and m.family == "encoder"
    assert {a.id for a in b.artifacts} == {"onnx/fp32/model", "openvino/fp32/model"}
    assert set(b.verify_all()) >= {"tokenizer.json", "golden/samples.json", "golden/tensors.npz",
                                   "onnx/fp32/model.onnx", "openvino/fp32/model.xml", "openvino/fp32/model.bin"}
    assert [t.name for t in b.graphs["model"].inputs][:1] == ["input_ids"]
    prov = m.provenance
    assert prov.exporter == "dynamo" and prov.opset == 18  # dynamo emits opset 18 when 17 (the default) is asked
    assert prov.versions["torch"].startswith("2.13") and len(prov.source_sha256) == 64
    assert m.parity["onnxruntime/fp32"].passed and m.parity["openvino/fp32"].passed


@pytest.mark.parametrize("rel", ["onnx/fp32/model.onnx", "openvino/fp32/model.bin", "tokenizer.json"])
def test_changed_file_is_named(copy, rel):
    path = copy / rel
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=rf"'{rel}' does not match its sha256"):
        pipeline(copy, backend="openvino" if rel.startswith("openvino") else "onnxruntime")


def test_truncated_file_is_named(copy):
    path = copy / "onnx/fp32/model.onnx"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(BundleError, match="model.onnx' does not match"):
        pipeline(copy, backend="onnxruntime")


def test_missing_file(copy):
    (copy / "tokenizer.json").unlink()
    with pytest.raises(BundleError, match=r"'tokenizer.json' is listed in edgetool.json but missing \(removed or renamed\)"):
        pipeline(copy)  # refused at load, before any file is used


@pytest.mark.parametrize("content,match", [
    ("{not json", "not valid JSON"),
    (json.dumps({"schema_version": 99}), "schema_version 99"),
    (json.dumps({"schema_version": 2, "task": "text-classification"}), "lacks the 'graphs'"),
])
def test_corrupt_manifest(copy, content, match):
    (copy / MANIFEST).write_text(content)
    write_manifest_digest(copy)  # the digest matches: the manifest's own checks speak
    with pytest.raises(BundleError, match=match):
        Bundle.load(copy)


def test_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="does not exist"):
        Bundle.load(tmp_path / "nope")
    with pytest.raises(BundleError, match="no edgetool.json"):
        Bundle.load(tmp_path)
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(BundleError, match="is a file"):
        Bundle.load(f)


def test_failed_export_leaves_nothing(tmp_path, monkeypatch):
    """An export that dies half-way (here: while recording golden I/O) leaves no bundle and no staging dir."""
    from edgetool.export import exporter
    from edgetool.export.options import ExportOptions

    def boom(*a, **k):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(exporter, "save_golden", boom)
    out = tmp_path / "out" / "b"
    with pytest.raises(RuntimeError):
        exporter.export(ExportOptions(task="classify", out=out, quiet=True))
    assert not out.exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_parity_failure_writes_nothing(tmp_path, monkeypatch):
    """Export refuses to write a bundle that does not match PyTorch."""
    from edgetool.export import exporter
    from edgetool.export.options import ExportOptions
    from edgetool.runtime.errors import ParityError
    from edgetool.runtime.tasks import REGISTRY, Tolerance

    spec = REGISTRY["text-classification"]
    monkeypatch.setitem(spec.tolerances, "fp32", Tolerance(atol=0.0, rtol=0.0))  # no float error allowed
    monkeypatch.setitem(spec.metric_floor, "fp32", 1.01)  # and an unreachable metric
    out = tmp_path / "b"
    with pytest.raises(ParityError, match="no bundle written"):
        exporter.export(ExportOptions(task="classify", out=out, quiet=True))
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_existing_bundle_needs_force(bundle_dir, tmp_path):
    from edgetool.export.exporter import export
    from edgetool.export.options import ExportOptions
    from edgetool.runtime.errors import UsageError

    out = tmp_path / "b"
    export(ExportOptions(task="classify", out=out, quiet=True))
    with pytest.raises(UsageError, match="--force"):
        export(ExportOptions(task="classify", out=out, quiet=True))
    export(ExportOptions(task="classify", out=out, quiet=True, force=True))
    assert Bundle.load(out).verify_all()


def _edit(copy, change):
    """A crafted manifest: changed, with its digest made to match (so the path checks themselves speak)."""
    m = json.loads((copy / MANIFEST).read_text())
    change(m)
    (copy / MANIFEST).write_text(json.dumps(m))
    write_manifest_digest(copy)


def _point_artifact(path):
    def change(m):
        art = m["artifacts"][0]
        sha = next(iter(art["files"].values()))
        art["path"], art["files"] = path, {path: sha}
    return change


def _list_file(path):
    def change(m):
        m["files"][path] = "0" * 64
    return change


@pytest.mark.parametrize("change,field", [
    (_point_artifact("../../../../etc/passwd"), r"artifacts\[0\]\.path"),
    (_point_artifact("/etc/passwd"), r"artifacts\[0\]\.path"),
    (_point_artifact("onnx/../../secret.onnx"), r"artifacts\[0\]\.path"),
    (_list_file("../outside.json"), r"files\['\.\./outside\.json'\]"),
    (_list_file("C:/Windows/win.ini"), r"files\['C:/Windows/win\.ini'\]"),
    (_list_file("golden\\..\\..\\x"), r"files\[.*\]"),
])
def test_paths_that_leave_the_bundle_are_refused_before_anything_is_read(copy, monkeypatch, change, field):
    _edit(copy, change)
    opened = []
    monkeypatch.setattr("edgetool.runtime.bundle.sha256_file", lambda p, *a: opened.append(p) or "0" * 64)
    with pytest.raises(BundleError, match=rf"{field}: .* is not a path inside the bundle"):
        pipeline(copy)
    assert opened == []


def test_a_symlink_out_of_the_bundle_is_never_opened(copy, tmp_path, monkeypatch):
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    (copy / "tokenizer.json").unlink()
    (copy / "tokenizer.json").symlink_to(outside)
    opened = []
    monkeypatch.setattr("edgetool.runtime.bundle.sha256_file", lambda p, *a: opened.append(p) or "0" * 64)
    with pytest.raises(BundleError, match="'tokenizer.json' is a link to a file outside the bundle"):
        Bundle.load(copy).file("tokenizer.json")
    assert opened == []
