"""The bundle, write side: everything goes to a hidden staging directory next to the destination,
which is renamed into place at the end — an interrupted export never leaves a half bundle."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from edgetool.runtime.bundle import MANIFEST, SCHEMA_VERSION, Artifact, Bundle, sha256_file
from edgetool.runtime.errors import UsageError


class StagedBundle:
    def __init__(self, out: Path, force: bool = False):
        self.out = Path(out)
        if self.out.exists() and not force:
            raise UsageError(f"'{self.out}' already exists. Pass --force to replace it, or --out another directory.")
        if self.out.exists() and not (self.out / MANIFEST).is_file():
            raise UsageError(f"'{self.out}' exists and is not an edgetool bundle; refusing to replace it. Choose another --out.")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(dir=self.out.parent, prefix=f".{self.out.name}.partial-"))
        self.manifest: dict = {"schema_version": SCHEMA_VERSION, "graphs": {}, "artifacts": [], "files": {}}

    def add_file(self, rel: str) -> None:
        self.manifest["files"][rel] = sha256_file(self.dir / rel)

    def add_artifact(self, art: Artifact) -> None:
        self.manifest["artifacts"] = [a for a in self.manifest["artifacts"] if a["id"] != art.id] + [art.to_json()]

    def hashes(self, rels: list[str]) -> dict[str, str]:
        return {r: sha256_file(self.dir / r) for r in rels}

    def write_manifest(self) -> None:
        (self.dir / MANIFEST).write_text(json.dumps(self.manifest, indent=2, ensure_ascii=False), encoding="utf-8")

    def bundle(self) -> Bundle:
        self.write_manifest()
        return Bundle.load(self.dir)

    def commit(self) -> Path:
        self.write_manifest()
        self.dir.chmod(0o755)  # mkdtemp makes it private; a bundle is meant to be copied and shared
        old = None
        if self.out.exists():
            old = self.out.with_name(f".{self.out.name}.old-{self.dir.name[-8:]}")
            self.out.rename(old)
        self.dir.rename(self.out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.out

    def abort(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def write_manifest(bundle_dir: Path, manifest: dict) -> None:
    """Rewrite an existing bundle's manifest atomically (used when artifacts are added later)."""
    tmp = bundle_dir / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(bundle_dir / MANIFEST)
