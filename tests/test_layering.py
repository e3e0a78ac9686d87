"""The layering of DESIGN.md, checked on the source: every import (top-level or inside a function) of
every module, resolved to the module it names.

- runtime/ is what a device imports: never export/quantize/targets, the tool packages (check, bench,
  cli, render, ...), torch, transformers or onnx;
- targets/ never imports quantize/; nothing imports the CLI;
- no import cycles between modules, lazy imports included (a lazy import hides a cycle, it does not
  remove it).
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"edgetool": "edgetool", "runtime": "edgetool.runtime", "export": "edgetool.export",
            "quantize": "edgetool.quantize", "targets": "edgetool.targets"}
HEAVY = ("torch", "transformers", "onnx", "onnxscript", "nncf", "optimum")
TOOL = ("edgetool.export", "edgetool.quantize", "edgetool.targets", "edgetool.check", "edgetool.bench",
        "edgetool.cli", "edgetool.render", "edgetool.pictures", "edgetool.doctor", "edgetool.progress",
        "edgetool.demo")


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _imports(name: str, path: Path) -> set[str]:
    """Modules named by the imports of one module (project modules resolved; others by top name)."""
    package = name if _is_package(name) else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:  # `from pkg import module` imports that module
                out.add(f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod)
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _top(mod: str) -> str:
    return mod.split(".")[0]


def _under(mod: str, prefixes) -> bool:
    return any(mod == p or mod.startswith(p + ".") for p in prefixes)


def test_the_walk_sees_the_tree():
    assert "edgetool.runtime.bundle" in MODULES and "edgetool.export.exporter" in MODULES
    assert "edgetool.runtime.bundle" in GRAPH["edgetool.runtime.pipelines.base"]


def test_runtime_imports_only_device_code():
    bad = sorted(f"{m} -> {i}" for m, deps in GRAPH.items() if _under(m, ["edgetool.runtime"])
                 for i in deps if _top(i) in HEAVY or _under(i, TOOL))
    assert not bad, "the runtime must stay what a device imports:\n" + "\n".join(bad)


def test_targets_never_import_quantize():
    bad = sorted(f"{m} -> {i}" for m, deps in GRAPH.items() if _under(m, ["edgetool.targets"])
                 for i in deps if _under(i, ["edgetool.quantize"]))
    assert not bad, "\n".join(bad)


def test_nothing_imports_the_cli():
    allowed = {"edgetool.cli", "edgetool.__main__", "edgetool.demo"}  # entry points that drive the CLI
    bad = sorted(f"{m} -> {i}" for m, deps in GRAPH.items() if m not in allowed
                 for i in deps if _under(i, ["edgetool.cli"]))
    assert not bad, "\n".join(bad)


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in GRAPH.get(v, ()):
            if w not in GRAPH or w == v:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


# A package's __init__ re-exporting its own submodules is not a cycle worth the name: the submodule
# importing a sibling through the package is. Only edges between two different modules count, and a
# package importing its own submodule is dropped before the search.
for _name, _deps in GRAPH.items():
    if _is_package(_name):
        _deps.difference_update({d for d in _deps if d.startswith(_name + ".")})


def test_no_import_cycles():
    cycles = _cycles()
    assert not cycles, "import cycles (lazy imports included):\n" + "\n".join(" <-> ".join(c) for c in cycles)
