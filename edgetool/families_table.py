"""The families that work, per task, as the README shows them: generated from the export FAMILIES and
runtime HEADS registries (`family_rows`), never written by hand. `edgetool tasks --markdown` prints the
table; tests/cli/test_families_table.py checks the README's copy between the markers below."""
from __future__ import annotations

from pathlib import Path

BEGIN, END = "<!-- families:begin (edgetool tasks --markdown) -->", "<!-- families:end -->"


def markdown_table(rows: list[dict]) -> str:
    lines = ["| task | family | model types (`config.model_type`) | reference checkpoints |", "|---|---|---|---|"]
    for r in rows:
        types = "any its Auto class loads" if r["model_types"] == "any" else ", ".join(f"`{t}`" for t in r["model_types"])
        lines.append(f"| {r['task']} | {r['family']} | {types} | {', '.join(r['references'])} |")
    return "\n".join(lines)


def readme_block(readme: Path) -> str:
    """The table between the README's markers ('' without them)."""
    text = readme.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        return ""
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def write_readme_block(readme: Path, table: str) -> None:
    text = readme.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}", encoding="utf-8")
