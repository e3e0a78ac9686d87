"""The families listed by `edgetool tasks --json` / `--markdown` and the README come from the registries."""
from __future__ import annotations

import json
from pathlib import Path

from cli_invoke import invoke_cli as run

from edgetool.export.families import FAMILIES, family_keys, family_rows
from edgetool.families_table import markdown_table, readme_block
from edgetool.runtime.heads import HEADS

README = Path(__file__).resolve().parents[2] / "README.md"


def test_rows_are_the_registered_families_with_a_runtime_head():
    rows = family_rows()
    assert {(r["task"], r["family"]) for r in rows} == {k for k in family_keys() if k in HEADS}
    for r in rows:
        a = FAMILIES.get((r["task"], r["family"]))
        assert r["references"] == [ref.name for ref in a.references] and r["references"]


def test_tasks_json_lists_each_tasks_families():
    r = run("tasks", "--json")
    assert r.exit_code == 0, r.output
    tasks = {row["task"]: row for row in json.loads(r.output)}
    image = {f["family"]: f for f in tasks["image-classification"]["families"]}
    assert {"vit", "deit", "beit", "swin", "convnext", "resnet", "regnet", "mobilenet", "efficientnet", "mobilevit",
            "dinov2", "levit", "poolformer"} <= set(image)
    assert image["swin"]["model_types"] == ["swin", "swinv2"]
    listed = {(t, f["family"]) for t, row in tasks.items() for f in row["families"]}
    assert listed == {(r["task"], r["family"]) for r in family_rows()}


def test_readme_table_matches_the_registry():
    """Regenerate with: edgetool tasks --markdown (between the README's families markers)."""
    assert readme_block(README) == markdown_table(family_rows())
    assert run("tasks", "--markdown").output.strip() == markdown_table(family_rows())
