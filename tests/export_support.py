"""Shared by tests that export a reference checkpoint with one preprocessor setting changed."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest


def assert_setting_refused(checkpoint: Path, tmp_path: Path, task: str, key: str, value, match: str | None = None) -> None:
    """Copy `checkpoint`, set `key` to `value` in its preprocessor_config.json, and check that the export stops
    with an UnsupportedError matching `match` (default: "key=value") and writes nothing."""
    from edgetool.export.exporter import export
    from edgetool.export.options import ExportOptions
    from edgetool.runtime.errors import UnsupportedError

    ckpt = tmp_path / "ckpt"
    shutil.copytree(checkpoint, ckpt)
    cfg = json.loads((ckpt / "preprocessor_config.json").read_text())
    cfg[key] = value
    (ckpt / "preprocessor_config.json").write_text(json.dumps(cfg))
    with pytest.raises(UnsupportedError, match=match if match is not None else re.escape(f"{key}={value!r}")):
        export(ExportOptions(task=task, target="onnx", model=ckpt, out=tmp_path / "bundle", quiet=True))
    assert not (tmp_path / "bundle").exists()
