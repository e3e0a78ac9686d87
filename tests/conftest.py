"""Shared fixtures: bundles are exported once per session (tiny reference models) and reused."""
from __future__ import annotations

import fcntl
import hashlib
import os
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _shared_root(tmp_path_factory, name: str) -> Path:
    """A directory every pytest-xdist worker of this run sees (the run's base temp dir); without xdist, this
    session's own."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = tmp_path_factory.getbasetemp().parent / name
        root.mkdir(exist_ok=True)
        return root
    return tmp_path_factory.mktemp(name)


@contextmanager
def _locked(path: Path):
    """An exclusive lock between the run's worker processes (flock: released when the file closes, or its holder
    dies)."""
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory):
    """bundle_dir(task, target="onnx", precision="fp32", reference=None, model=None, dynamo=None, **extra) -> Path.

    Exports once per distinct argument set and run — once for all pytest-xdist workers: the first to ask
    exports (the export writes the bundle whole or not at all), the others wait for it and reuse it.
    Tests must not modify the result (copy it with shutil.copytree to tamper with it)."""
    from edgetool.export.exporter import export
    from edgetool.export.options import ExportOptions

    root = _shared_root(tmp_path_factory, "bundles")

    def make(task: str, target: str = "onnx", precision: str = "fp32", reference: str | None = None,
             model: Path | None = None, dynamo: bool | None = None, **extra) -> Path:
        key = (task, target, precision, reference, str(model), dynamo, tuple(sorted(extra.items())))
        digest = hashlib.sha1(repr(key).encode()).hexdigest()[:10]
        out = root / ("-".join(str(k) for k in key[:4]).replace("/", "_") + f"-{digest}")
        with _locked(root / f"{out.name}.lock"):
            if not out.is_dir():
                export(ExportOptions(task=task, target=target, precision=precision, reference=reference, model=model,
                                     out=out, quiet=True, dynamo=dynamo, extra=dict(extra)))
        return out

    return make


@pytest.fixture(scope="session")
def reference_dir():
    """reference_dir(name) -> the checkpoint directory of a built-in reference model."""
    from edgetool.export.reference import checkpoint_dir

    return checkpoint_dir


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="also run the tests marked slow (make test-slow)")


def _whole_tree_collected(config) -> bool:
    """True when the run collects all of tests/ (no file, node or -k/-m selection given)."""
    if config.option.keyword or config.option.markexpr:
        return False
    tests, root = Path(__file__).parent.resolve(), Path(config.rootpath).resolve()
    return all(Path(str(a).split("::")[0]).resolve() in (tests, root) and "::" not in str(a) for a in config.args)


def pytest_collection_modifyitems(session, config, items):
    """Every registered export family `(task, family)` needs an end-to-end test marked
    `@pytest.mark.family(task, family)`; a missing one (or a marker naming no registered family)
    fails a whole-suite run. Runs of selected files are not checked."""
    from edgetool.export.families import family_keys

    registered = set(family_keys())
    marked, unknown = set(), set()
    for item in items:
        for m in item.iter_markers("family"):
            key = tuple(m.args)
            (marked if key in registered else unknown).add(key)
    problems = []
    if unknown:
        problems.append(f"@pytest.mark.family names unregistered families: {sorted(unknown)} "
                        "(registered: export/families/__init__.py)")
    if _whole_tree_collected(config):
        missing = sorted(registered - marked)
        if missing:
            problems.append("export families without an end-to-end test: "
                            + ", ".join(f"{t}/{f}" for t, f in missing)
                            + ". Mark the test in tests/e2e that exports and checks each with "
                            "@pytest.mark.family(task, family).")
    if problems:
        raise pytest.UsageError("\n".join(problems))
    if not config.getoption("--slow"):  # slow tests run with --slow only (make test-slow)
        slow = [item for item in items if item.get_closest_marker("slow")]
        if slow:
            config.hook.pytest_deselected(items=slow)
            items[:] = [item for item in items if not item.get_closest_marker("slow")]
