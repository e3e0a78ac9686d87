"""transformers 5 for export: every built-in reference model exports under transformers 5 (its own parity
gate against the transformers 5 PyTorch model) and gives the answers recorded with transformers 4.57 on the
same weights.

Runs in the transformers 5 environment (`make test-transformers5`); elsewhere the module skips. The
4.57 side is exported by the main environment's interpreter (EDGETOOL_REFERENCE_PYTHON, default
.venv/bin/python) with tests/transformers5/export_references.py, into EDGETOOL_REFERENCE_BUNDLES (default:
a temporary directory). That run builds the reference checkpoints too, so both sides load the same
checkpoint directories (the provenance hash is compared).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

transformers = pytest.importorskip("transformers")
if int(transformers.__version__.split(".")[0]) < 5:
    pytest.skip(f"transformers {transformers.__version__}: this module runs in the transformers 5 environment "
                "(make test-transformers5)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("export_references.py")


def _references() -> list[tuple[str, str, str]]:
    from edgetool.export.families import all_adapters

    return [(a.task, a.family, r.name) for a in all_adapters() for r in a.references]


REFERENCES = _references()


@pytest.fixture(scope="module")
def transformers4_bundles(tmp_path_factory) -> dict:
    """{reference: entry} of the bundles exported with the main environment's transformers 4."""
    python = Path(os.environ.get("EDGETOOL_REFERENCE_PYTHON") or ROOT / ".venv" / "bin" / "python")
    out = Path(os.environ.get("EDGETOOL_REFERENCE_BUNDLES") or tmp_path_factory.mktemp("transformers4"))
    if not python.is_file():
        pytest.fail(f"{python} (the transformers 4 environment that records the reference answers) does not exist: "
                    "run `make venv`, or set EDGETOOL_REFERENCE_PYTHON")
    index_file = out / "index.json"
    names = {name for _, _, name in REFERENCES}
    index = json.loads(index_file.read_text()) if index_file.is_file() else {}
    if not names <= set(index.get("bundles", {})):
        run = subprocess.run([str(python), str(SCRIPT), str(out)], cwd=ROOT, capture_output=True, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
        assert run.returncode == 0, f"the transformers 4 export failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
        index = json.loads(index_file.read_text())
    assert index["transformers"].startswith("4."), f"{python} has transformers {index['transformers']}, not 4.x"
    return index


@pytest.mark.parametrize("task,family,name", REFERENCES, ids=[f"{t}-{n}" for t, _, n in REFERENCES])
def test_transformers5_export_matches_transformers4(task, family, name, transformers4_bundles, tmp_path_factory):
    from edgetool.check import golden as golden_io
    from edgetool.check.validate import ValidateOptions, validate_bundle
    from edgetool.export.exporter import export
    from edgetool.export.options import ExportOptions
    from edgetool.runtime.bundle import Bundle

    entry = transformers4_bundles["bundles"][name]
    assert "error" not in entry, f"transformers {transformers4_bundles['transformers']} export of {name}: {entry['error']}"
    old = Bundle.load(entry["bundle"])
    # The export's own gate: the ONNX bundle against the transformers 5 PyTorch model.
    new = Bundle.load(export(ExportOptions(task=task, reference=name, out=tmp_path_factory.mktemp("v5") / name,
                                           quiet=True)))
    assert new.manifest.family == old.manifest.family == family
    assert new.manifest.provenance.source_sha256 == old.manifest.provenance.source_sha256, "not the same checkpoint"
    assert new.manifest.provenance.versions["transformers"] == transformers.__version__
    assert old.manifest.provenance.versions["transformers"] == transformers4_bundles["transformers"]

    old_golden, new_golden = golden_io.load(old), golden_io.load(new)
    assert len(new_golden.samples) == len(old_golden.samples)
    # Same weights, same answers: the transformers 5 bundle against the answers recorded with 4.57 ...
    reports = validate_bundle(new, ValidateOptions(), reference=old_golden)
    failed = [r for r in reports if not r.get("skipped") and not r["passed"]]
    assert reports and not failed, _describe(failed)
    # ... and the answers recorded with transformers 5 (its PyTorch model) against the 4.57 bundle.
    reports = validate_bundle(old, ValidateOptions(), reference=new_golden)
    failed = [r for r in reports if not r.get("skipped") and not r["passed"]]
    assert reports and not failed, _describe(failed)


def _describe(reports: list[dict]) -> str:
    from edgetool.check.compare import format_report

    return "\n".join(format_report(r) for r in reports)


def test_runs_in_a_transformers5_environment():
    assert int(transformers.__version__.split(".")[0]) >= 5
    assert sys.prefix != str(ROOT / ".venv"), "the transformers 5 environment must be a separate one"
