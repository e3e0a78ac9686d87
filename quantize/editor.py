"""Adding artifacts to an existing bundle without ever leaving it inconsistent.

New files go to a directory no manifest references yet (a fresh name when the default one exists);
the manifest is then replaced atomically (write + rename), and only after that are the files of
replaced artifacts removed. An interrupted `edgetool quantize` leaves the old bundle intact."""
from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

from edgetool.runtime.bundle import MANIFEST, Artifact, Bundle, sha256_file


class BundleEditor:
    def __init__(self, root: Path):
        bundle = Bundle.load(root)  # schema and required fields checked here
        self.dir = Path(root)
        self.manifest: dict = json.loads(json.dumps(bundle.manifest))
        self._before = self._referenced(self.manifest)
        self._new_dirs: list[Path] = []
        self._committed = False

    @staticmethod
    def _referenced(manifest: dict) -> set[str]:
        refs = set(manifest.get("files", {}))
        for a in manifest.get("artifacts", []):
            refs.update(a.get("files", {}))
        return refs

    def artifact_dir(self, target: str, precision: str) -> str:
        rel = f"{target}/{precision}"
        if (self.dir / rel).exists():
            rel = f"{target}/{precision}-{uuid.uuid4().hex[:8]}"
        self._new_dirs.append(self.dir / rel)
        return rel

    def add_file(self, rel: str) -> None:
        self.manifest.setdefault("files", {})[rel] = sha256_file(self.dir / rel)

    def add_artifact(self, art: Artifact) -> None:
        self.manifest["artifacts"] = [a for a in self.manifest["artifacts"] if a["id"] != art.id] + [art.to_json()]

    def hashes(self, rels: list[str]) -> dict[str, str]:
        return {r: sha256_file(self.dir / r) for r in rels}

    def bundle(self) -> Bundle:
        """The bundle as it will be after commit (in memory: nothing is written)."""
        return Bundle(self.dir, json.loads(json.dumps(self.manifest)))

    def commit(self) -> Path:
        tmp = self.dir / f".{MANIFEST}.{uuid.uuid4().hex[:8]}.tmp"
        tmp.write_text(json.dumps(self.manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        tmp.replace(self.dir / MANIFEST)
        self._committed = True
        for rel in sorted(self._before - self._referenced(self.manifest)):
            (self.dir / rel).unlink(missing_ok=True)
            self._prune((self.dir / rel).parent)
        return self.dir

    def abort(self) -> None:
        if not self._committed:
            for d in self._new_dirs:
                shutil.rmtree(d, ignore_errors=True)
                self._prune(d.parent)

    def _prune(self, parent: Path) -> None:
        """Remove directories left empty (e.g. openvino/ after its only artifact was dropped)."""
        while parent != self.dir and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
