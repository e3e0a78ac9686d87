"""No stack trace from the CLI, ever: one line saying what was wrong and what to do, and the exit code
(2 usage/input, 1 failed check, 3 internal error, 130 interrupted); nothing half-written."""
from __future__ import annotations

import errno
import tempfile
from pathlib import Path

import pytest
from cli_invoke import invoke_cli as _cli


def _one_line(r) -> str:
    lines = [ln for ln in r.output.strip().splitlines() if ln.strip()]
    assert "Traceback" not in r.output
    assert len(lines) == 1, r.output
    return lines[0]


def test_stdin_that_is_not_utf8_is_a_usage_error(bundle_dir):
    r = _cli("run", bundle_dir("text-classification"), "-", input=b"\xff\xfe bad")
    assert r.exit_code == 2
    assert "not UTF-8" in _one_line(r) and "0xff" in r.output


def test_utf8_stdin_with_a_bom_is_read(bundle_dir):
    r = _cli("run", bundle_dir("text-classification"), "-", "--json", input="\ufeffI love this".encode())
    assert r.exit_code == 0, r.output


def test_an_internal_error_is_one_line_exit_3_and_debug_shows_the_stack(bundle_dir, monkeypatch):
    import edgetool.runtime

    def broken(*a, **k):
        raise RuntimeError("planted failure\nsecond line")

    monkeypatch.setattr(edgetool.runtime, "pipeline", broken)
    r = _cli("run", bundle_dir("text-classification"), "hello")
    assert r.exit_code == 3
    line = _one_line(r)
    assert "internal error: RuntimeError: planted failure" in line and "--debug" in line
    r = _cli("--debug", "run", bundle_dir("text-classification"), "hello")
    assert isinstance(r.exception, RuntimeError)  # the stack is the user's to see
    monkeypatch.setenv("EDGETOOL_DEBUG", "1")
    assert isinstance(_cli("run", bundle_dir("text-classification"), "hello").exception, RuntimeError)


def test_out_under_an_existing_file(tmp_path):
    (tmp_path / "f").write_text("x")
    r = _cli("export", "--task", "classify", "--out", tmp_path / "f" / "bundle", "-q")
    assert r.exit_code == 2
    assert "a file is in the way" in _one_line(r)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


@pytest.mark.parametrize("code, says", [(errno.EROFS, "read-only"), (errno.ENOSPC, "free some space"),
                                        (errno.EACCES, "permissions")])
def test_unwritable_destination(tmp_path, monkeypatch, code, says):
    def refuse(*a, **k):
        raise OSError(code, "planted", str(tmp_path / "out"))

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    r = _cli("export", "--task", "classify", "--out", tmp_path / "out", "-q")
    assert r.exit_code == 2
    assert says in _one_line(r)
    assert not list(tmp_path.iterdir())


def test_a_directory_where_a_file_is_expected(bundle_dir, tmp_path):
    r = _cli("validate", bundle_dir("text-classification"), "--json", tmp_path)
    assert r.exit_code == 2
    _one_line(r)


def _last_line(r) -> str:
    assert "Traceback" not in r.output
    return [ln for ln in r.output.strip().splitlines() if ln.strip()][-1]


def test_an_unreadable_input_file(bundle_dir, tmp_path, monkeypatch):
    picture = tmp_path / "p.png"
    picture.write_bytes(b"\x89PNG")
    real = Path.read_bytes

    def refuse(self):
        if self.name == "p.png":  # root reads any file: the refusal is planted
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    r = _cli("run", bundle_dir("image-classification"), picture)
    assert r.exit_code == 2
    line = _last_line(r)
    assert "Permission denied" in line and "p.png" in line and "permissions" in line


def test_a_picture_that_is_a_symlink_loop(bundle_dir, tmp_path):
    (tmp_path / "a.png").symlink_to(tmp_path / "b.png")
    (tmp_path / "b.png").symlink_to(tmp_path / "a.png")
    r = _cli("run", bundle_dir("image-classification"), tmp_path / "a.png")
    assert r.exit_code == 2
    assert "a.png" in _last_line(r) and "symbolic link loop" in _last_line(r)


def test_disk_full_while_writing_a_bundle_leaves_nothing(tmp_path, monkeypatch):
    import edgetool.export.onnx_export as onnx_export

    def full(path, name):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(onnx_export, "read_graph_spec", full)
    r = _cli("export", "--task", "classify", "--out", tmp_path / "b", "-q")
    assert r.exit_code == 2
    assert "free some space" in _last_line(r)
    assert not list(tmp_path.iterdir())  # no bundle, no staging directory


def test_ctrl_c_during_export_leaves_nothing(tmp_path, monkeypatch):
    import edgetool.export.onnx_export as onnx_export

    def interrupt(path, name):
        raise KeyboardInterrupt

    monkeypatch.setattr(onnx_export, "read_graph_spec", interrupt)
    r = _cli("export", "--task", "classify", "--out", tmp_path / "b", "-q")
    assert r.exit_code == 130
    assert not list(tmp_path.iterdir())


def test_ctrl_c_during_bench(bundle_dir, tmp_path, monkeypatch):
    import edgetool.bench.measure as measure

    before = set(Path(tempfile.gettempdir()).glob("edgetool-bench-*"))
    calls = {"n": 0}
    real = measure._TimedEngine.run

    def interrupt(self, feeds):
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt
        return real(self, feeds)

    monkeypatch.setattr(measure._TimedEngine, "run", interrupt)
    r = _cli("bench", bundle_dir("text-classification"), "--runs", "5", "--json", tmp_path / "bench.json", "-q")
    assert r.exit_code == 130
    assert not (tmp_path / "bench.json").exists()  # no half report
    assert set(Path(tempfile.gettempdir()).glob("edgetool-bench-*")) == before  # its work dir is gone


def test_export_on_a_runtime_only_install_names_the_extra(tmp_path, monkeypatch):
    import sys

    for name in ("torch", "transformers"):  # as on a device: the export extra is not installed
        monkeypatch.setitem(sys.modules, name, None)
    r = _cli("export", "--task", "classify", "--out", tmp_path / "b", "-q")
    assert r.exit_code == 2
    line = _last_line(r)
    assert "pip install 'edgetool[export]'" in line and ("torch" in line or "transformers" in line)
    assert not list(tmp_path.iterdir())
