"""Export every built-in reference model (onnx, fp32) into OUT/<reference>: the side recorded with the
transformers of the running interpreter (make test-transformers5 runs it with the main environment's
transformers 4.57, then checks the transformers 5 exports against these bundles' golden answers).

    python tests/transformers5/export_references.py OUT [REFERENCE ...]

OUT/index.json lists {reference: {"task", "family", "bundle"}} and the transformers version; a reference
whose export failed is listed with its "error" (the transformers 5 side then fails with that message).
"""
from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path


def references() -> list[tuple[str, str, str]]:
    """(task, family, reference) of every built-in reference model."""
    from edgetool.export.families import all_adapters

    return [(a.task, a.family, r.name) for a in all_adapters() for r in a.references]


def main(argv: list[str]) -> int:
    import transformers

    from edgetool.export.exporter import export
    from edgetool.export.options import ExportOptions

    out = Path(argv[0])
    wanted = set(argv[1:])
    out.mkdir(parents=True, exist_ok=True)
    index: dict = {"transformers": transformers.__version__, "bundles": {}}
    if wanted and (out / "index.json").is_file():  # a partial run updates the index
        index["bundles"] = json.loads((out / "index.json").read_text(encoding="utf-8")).get("bundles", {})
    for task, family, name in references():
        if wanted and name not in wanted:
            continue
        entry: dict = {"task": task, "family": family}
        try:
            path = export(ExportOptions(task=task, reference=name, out=out / name, force=True, quiet=True))
            entry["bundle"] = str(path)
        except Exception as e:  # noqa: BLE001 - recorded, reported by the test that needs this bundle
            entry["error"] = f"{type(e).__name__}: {e}"
            traceback.print_exc()
        index["bundles"][name] = entry
        print(f"{name}: {entry.get('error', 'ok')}", flush=True)
    (out / "index.json").write_text(json.dumps(index, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
