"""The bundle, write side: one writer for new bundles and for adding artifacts to an existing one.

Both are atomic, and both write the manifest only as a typed `Manifest` (runtime/manifest.py):
- `BundleWriter.create(out, force, task=..., family=...)`: everything goes to a hidden staging
  directory next to the destination, renamed into place by `commit()` — an interrupted export never
  leaves a half bundle;
- `BundleWriter.edit(existing)`: new files go to directories no manifest references yet
  (`artifact_dir()` picks a fresh name when the default one exists); `commit()` replaces the manifest
  atomically (write + rename) and only then removes the files of replaced artifacts — an interrupted
  `edgetool quantize` leaves the old bundle intact.
`abort()` (call it in a `finally`) undoes what was written unless `commit()` ran.

Both write `edgetool.json.sha256` with the manifest (the manifest's own hash, checked when a bundle is
opened). A bundle signed before an edit (`edgetool.sig`) no longer matches: with `sign_key` set the
writer signs it again after the commit, else it removes the stale signature and says so (BundleWarning).
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import uuid
import warnings
from pathlib import Path
from typing import Any, Mapping

from edgetool.runtime.bundle import MANIFEST_DIGEST, SIGNATURE, Bundle, BundleWarning, manifest_digest, sha256_file
from edgetool.runtime.errors import UsageError
from edgetool.runtime.manifest import MANIFEST, Artifact, Manifest


def dump(manifest: Manifest) -> str:
    return json.dumps(manifest.to_json(), indent=2, ensure_ascii=False)


def write_manifest_digest(root: str | Path) -> None:
    """(Re)write edgetool.json.sha256 for the edgetool.json in root, atomically. The writer calls it; tests
    that hand-craft a manifest call it too."""
    root = Path(root)
    tmp = root / f".{MANIFEST_DIGEST}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.write_text(manifest_digest((root / MANIFEST).read_bytes()), encoding="utf-8")
    tmp.replace(root / MANIFEST_DIGEST)


def _write_manifest(root: Path, manifest: Manifest) -> None:
    """edgetool.json and its digest, each written to a temp file first, then renamed back to back."""
    text = dump(manifest).encode("utf-8")
    tag = uuid.uuid4().hex[:8]
    tmp, dtmp = root / f".{MANIFEST}.{tag}.tmp", root / f".{MANIFEST_DIGEST}.{tag}.tmp"
    tmp.write_bytes(text)
    dtmp.write_text(manifest_digest(text), encoding="utf-8")
    tmp.replace(root / MANIFEST)
    dtmp.replace(root / MANIFEST_DIGEST)


class BundleWriter:
    """Use the constructors `create()` and `edit()`."""

    def __init__(self, dir: Path, manifest: Manifest, *, out: Path | None = None):
        self.dir = Path(dir)  # where files are written now (the staging dir for a new bundle)
        self.manifest = manifest
        self._out = out  # a new bundle's destination (None: editing in place)
        self._before = set(manifest.file_hashes()) if out is None else set()
        self._new_dirs: list[Path] = []
        self._committed = False
        self.sign_key: Path | None = None  # sign (or re-sign) the bundle on commit with this private key
        self.sign_certificate: Path | None = None  # certificate mode: the key's certificate ...
        self.sign_chain: tuple[Path, ...] = ()  # ... and its chain

    # -- constructors ---------------------------------------------------------------------------
    @classmethod
    def create(cls, out: str | Path, force: bool = False, *, task: str, family: str = "") -> "BundleWriter":
        """family may be set later with update(family=...) (it is known once the model is loaded)."""
        out = Path(out)
        if out.exists() and not force:
            raise UsageError(f"'{out}' already exists. Pass --force to replace it, or --out another directory.")
        if out.exists() and not (out / MANIFEST).is_file():
            raise UsageError(f"'{out}' exists and is not an edgetool bundle; refusing to replace it. Choose another --out.")
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
        return cls(staging, Manifest(task=task, family=family, graphs={}, artifacts=(), files={}), out=out)

    @classmethod
    def edit(cls, existing: str | Path) -> "BundleWriter":
        bundle = Bundle.load(existing)  # schema and every field checked here
        return cls(bundle.root, bundle.manifest)

    @property
    def is_new(self) -> bool:
        return self._out is not None

    # -- building the manifest -------------------------------------------------------------------
    def update(self, **changes: Any) -> None:
        """Replace top-level manifest fields (typed values: GraphSpec, Processing, Provenance, ...)."""
        self.manifest = dataclasses.replace(self.manifest, **changes)

    def artifact_dir(self, target: str, precision: str) -> str:
        """A directory (relative) for a new artifact that no manifest references yet."""
        rel = f"{target}/{precision}"
        if not self.is_new and (self.dir / rel).exists():
            rel = f"{target}/{precision}-{uuid.uuid4().hex[:8]}"
        if not self.is_new:
            self._new_dirs.append(self.dir / rel)
        return rel

    def hashes(self, rels: list[str]) -> dict[str, str]:
        return {r: sha256_file(self.dir / r) for r in rels}

    def add_file(self, rel: str) -> None:
        self.manifest = self.manifest.with_file(rel, sha256_file(self.dir / rel))

    def add_artifact(self, art: Artifact) -> None:
        self.manifest = self.manifest.with_artifact(art)

    def add_parity(self, label: str, report: Mapping[str, Any]) -> None:
        self.manifest = self.manifest.with_parity(label, report)

    def bundle(self) -> Bundle:
        """The bundle as it will be after commit, over the files written so far (nothing is written)."""
        return Bundle(self.dir, self.manifest)

    # -- finishing -------------------------------------------------------------------------------
    def commit(self) -> Path:
        if not self.manifest.family:
            raise UsageError(f"Internal error: the manifest of {self._out or self.dir} names no model family.")
        Manifest.from_json(self.manifest.to_json())  # what is written must load: check before it replaces anything
        if self.sign_key is not None:
            from edgetool.signing import check_private_key

            check_private_key(self.sign_key, self.sign_certificate, self.sign_chain)
        if self.is_new:
            return self._commit_new()
        _write_manifest(self.dir, self.manifest)
        self._committed = True
        for rel in sorted(self._before - set(self.manifest.file_hashes())):
            (self.dir / rel).unlink(missing_ok=True)
            self._prune((self.dir / rel).parent)
        if self.sign_key is not None:
            self._sign()
        elif (self.dir / SIGNATURE).exists():
            (self.dir / SIGNATURE).unlink()
            warnings.warn(f"{self.dir} was signed; the signature no longer matches the changed bundle and was "
                          f"removed. Sign it again: edgetool sign {self.dir} --key PRIVATE.pem (or pass --sign-key).",
                          BundleWarning, stacklevel=2)
        return self.dir

    def _sign(self) -> None:
        from edgetool.signing import sign_bundle

        sign_bundle(self.dir, self.sign_key, self.sign_certificate, self.sign_chain)

    def _commit_new(self) -> Path:
        out = self._out
        _write_manifest(self.dir, self.manifest)
        if self.sign_key is not None:
            self._sign()  # in the staging dir: the bundle appears signed or not at all
        self.dir.chmod(0o755)  # mkdtemp makes it private; a bundle is meant to be copied and shared
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old-{self.dir.name[-8:]}")
            out.rename(old)
        self.dir.rename(out)
        self._committed = True
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        self.dir = out
        return out

    def abort(self) -> None:
        if self._committed:
            return
        if self.is_new:
            shutil.rmtree(self.dir, ignore_errors=True)
            return
        for d in self._new_dirs:
            shutil.rmtree(d, ignore_errors=True)
            self._prune(d.parent)

    def _prune(self, parent: Path) -> None:
        """Remove directories left empty (e.g. openvino/ after its only artifact was dropped)."""
        while parent != self.dir and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
