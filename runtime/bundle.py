"""The bundle, read side: manifest parsing, hash verification, artifact selection.

A bundle is a directory with `edgetool.json` plus the files it lists (artifacts, tokenizer, golden
I/O). Every file carries a sha256 in the manifest; a file is verified when it is first opened, so a
device only hashes what it actually loads. The manifest itself is covered by `edgetool.json.sha256`
(`sha256sum -c` format), checked before the manifest is parsed; a listed file that is missing is
refused at load (a removed or renamed file), a file the manifest does not list is reported.

With a public key (`Bundle.load(path, verify_key=...)` or EDGETOOL_VERIFY_KEY), the OpenSSF Model
Signing signature `edgetool.sig` is checked first (runtime/signing.py): its signed file list must match
the directory and the manifest's bytes before the manifest is read; then every signed file is hashed
against that list in the same single pass as without a key (beside session creation, before any answer).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
import warnings
from pathlib import Path
from typing import Any

from .digest import sha256_file  # noqa: F401 — importable from here (writers and TensorRT's cache use it)
from .errors import BundleError, UsageError, did_you_mean
from .names import ALTERNATIVE_GRAPHS, TARGET_BACKEND
from .signing import SIGNATURE, refusal  # OpenSSF Model Signing (sigstore bundle format) over the whole directory
# the schema lives in manifest.py; these names stay importable from here (many modules read them here)
from .manifest import MANIFEST, SCHEMA_VERSION, Artifact, GraphSpec, Manifest, TensorSpec  # noqa: F401

PRECISIONS = ("fp32", "fp16", "int8", "int4")  # int4: weight-only (decoder LLMs)
MANIFEST_DIGEST = MANIFEST + ".sha256"  # "<sha256 of edgetool.json's bytes>  edgetool.json\n"
VERIFY_KEY_ENV = "EDGETOOL_VERIFY_KEY"  # a device image sets it once: every bundle must be signed by this key
OWN_FILES = (MANIFEST, MANIFEST_DIGEST, SIGNATURE)  # the bundle's files the manifest cannot list


class BundleWarning(UserWarning):
    """Something about a bundle worth saying that does not stop it from running (e.g. a file it does not list)."""


def manifest_digest(data: bytes) -> str:
    """The content of edgetool.json.sha256 for these manifest bytes."""
    return f"{hashlib.sha256(data).hexdigest()}  {MANIFEST}\n"


def check_manifest_digest(root: Path, data: bytes) -> None:
    """edgetool.json's bytes against edgetool.json.sha256 (written by every bundle writer)."""
    dpath = root / MANIFEST_DIGEST
    if not dpath.is_file():
        raise BundleError(
            f"{root}: '{MANIFEST_DIGEST}' is missing, so {MANIFEST} is protected by no hash: the bundle was written "
            "by an older edgetool or the file was removed. Re-export it (edgetool export ... --force)."
        )
    want = dpath.read_text(encoding="utf-8", errors="replace").split()
    have = hashlib.sha256(data).hexdigest()
    if not want or want[0] != have:
        raise BundleError(
            f"{root}: '{MANIFEST}' does not match its sha256 in {MANIFEST_DIGEST} (expected "
            f"{(want or ['nothing'])[0][:12]}…, found {have[:12]}…): the manifest was changed after export. "
            "Copy the bundle again from its source, or re-export it."
        )


class Bundle:
    """A loaded bundle directory. Construct with `Bundle.load(path)`."""

    def __init__(self, root: Path, manifest: Manifest):
        self.root = Path(root)
        self.manifest = manifest
        self._verified: set[str] = set()
        self.verified_by: str | None = None  # the key or certificate chain the signature was verified with
        self.graphs = dict(manifest.graphs)
        self.artifacts = list(manifest.artifacts)
        self._hashes = manifest.file_hashes()

    # -- loading -------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, verify_key: str | Path | None = None) -> "Bundle":
        """Open a bundle: its manifest checked against edgetool.json.sha256, every listed file present.
        verify_key (default: $EDGETOOL_VERIFY_KEY): a public key (PEM) or certificate chain; the bundle's
        signature is then verified over every file before the manifest is read."""
        root = Path(path)
        if not root.exists():
            raise BundleError(f"Bundle '{path}' does not exist. Create one with: edgetool export --task TASK --out {path}")
        if not root.is_dir():
            raise BundleError(f"'{path}' is a file, not a bundle directory (a bundle is a folder with {MANIFEST}).")
        mpath = root / MANIFEST
        if not mpath.is_file():
            raise BundleError(f"'{path}' has no {MANIFEST}: it is not an edgetool bundle (or the export was interrupted).")
        key = verify_key if verify_key is not None else os.environ.get(VERIFY_KEY_ENV) or None
        signed = None
        if key:
            from .signing import verify_signature

            signed = verify_signature(root, key)  # the manifest's bytes checked before a byte of it is used
        data = mpath.read_bytes()
        check_manifest_digest(root, data)
        try:
            manifest = json.loads(data.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise BundleError(f"{mpath} is not valid JSON ({e}); the bundle is corrupt — export it again.") from None
        bundle = cls(root, Manifest.from_json(manifest, str(mpath)))
        if signed is not None:
            bundle._sign_off(signed, str(key))
        bundle.check_listing()
        return bundle

    def _sign_off(self, signed: dict[str, str], key: str) -> None:
        """A verified signature's file list becomes the hashes every file is checked against (the manifest's
        own list must agree with it); edgetool.json and its digest were compared while verifying."""
        differ = sorted(rel for rel, digest in self._hashes.items() if signed.get(rel) != digest)
        if differ:
            raise refusal(self.root, f"{MANIFEST} lists other hashes than the signature for {', '.join(differ)}")
        self._hashes = {rel: d for rel, d in signed.items() if rel not in (MANIFEST, MANIFEST_DIGEST)}
        self.verified_by = key

    def check_listing(self) -> list[str]:
        """Refuse a listed file that is missing (removed, renamed); warn about files the manifest does not
        list (returned). Costs a directory walk, no hashing."""
        missing = sorted(rel for rel in self._hashes if not (self.root / rel).is_file())
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise BundleError(f"{self.root}: '{missing[0]}'{more} is listed in {MANIFEST} but missing (removed or "
                              "renamed). Copy the whole bundle directory again, or re-export it.")
        extra = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for name in sorted(filenames):
                rel = (Path(dirpath) / name).relative_to(self.root).as_posix()
                if rel not in self._hashes and rel not in OWN_FILES:
                    extra.append(rel)
        if extra:
            more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
            warnings.warn(f"{self.root}: '{extra[0]}'{more} is not listed in {MANIFEST}: it was added after export "
                          "and is not used.", BundleWarning, stacklevel=3)
        return extra

    # -- files ---------------------------------------------------------------------------------
    def file(self, rel: str, verify: bool = True) -> Path:
        """The path of a bundle file, its sha256 checked against the manifest on first use."""
        p = self.root / rel
        if rel not in self._hashes:
            raise BundleError(f"{self.root}: '{rel}' is not listed in {MANIFEST}; the bundle is corrupt or was edited.")
        if not p.is_file():
            raise BundleError(f"{self.root}: '{rel}' is missing. Copy the whole bundle directory, or export it again.")
        if not p.resolve().is_relative_to(self.root.resolve()):  # a symlink out of the bundle: never opened
            raise BundleError(f"{self.root}: '{rel}' is a link to a file outside the bundle; a bundle's files live in "
                              "it. Copy the bundle with its files (cp -rL), or export it again.")
        if verify and rel not in self._verified:
            actual = sha256_file(p)
            if actual != self._hashes[rel] and self.verified_by:
                raise refusal(self.root, f"changed since signing: {rel}")
            if actual != self._hashes[rel]:
                raise BundleError(
                    f"{self.root}: '{rel}' does not match its sha256 in {MANIFEST} "
                    f"(expected {self._hashes[rel][:12]}…, found {actual[:12]}…): the file was changed or truncated. "
                    "Copy the bundle again from its source, or re-export it."
                )
            self._verified.add(rel)
        return p

    def verify_in_background(self, rels: list[str]) -> "Verification":
        """Start hashing `rels` in a thread (hashlib releases the GIL for large reads), so engine sessions
        are built meanwhile; `.wait()` raises the first mismatch. Call it before anything is answered.
        A signed bundle hashes every signed file here (`rels` first): the signature covers them all."""
        if self.verified_by:
            rels = list(rels) + sorted(set(self._hashes) - set(rels))
        paths = {rel: self.file(rel, verify=False) for rel in rels}  # listed, present, inside: checked now
        return Verification(self, [r for r in paths if r not in self._verified])

    def verify_all(self) -> list[str]:
        """Check every listed file; returns the list of verified files (raises on the first mismatch)."""
        for rel in sorted(self._hashes):
            self.file(rel)
        return sorted(self._hashes)

    def json_file(self, rel: str) -> Any:
        return json.loads(self.file(rel).read_text(encoding="utf-8"))

    # -- manifest fields -----------------------------------------------------------------------
    @property
    def task(self) -> str:
        return self.manifest.task

    @property
    def family(self) -> str:
        return self.manifest.family

    @property
    def default_target(self) -> str:
        return self.manifest.default_target or "onnx"

    @functools.cached_property
    def processing(self) -> dict:
        """The processing section in its JSON shape, made once per Bundle (pipelines read it on every
        call); the typed manifest under it cannot change. Typed: `bundle.manifest.processing.tokenizer`."""
        p = self.manifest.processing
        return p.to_json() if p is not None else {}

    @property
    def generation(self) -> dict | None:
        """The generation section in its JSON shape (a copy). Typed: `bundle.manifest.generation`."""
        g = self.manifest.generation
        return g.to_json() if g is not None else None

    @property
    def id2label(self) -> dict[int, str]:
        return {int(k): v for k, v in (self.manifest.labels or {}).items()}

    @property
    def precisions(self) -> list[str]:
        return sorted({a.precision for a in self.artifacts}, key=PRECISIONS.index)

    def select(self, formats: tuple[str, ...], precision: str | None, backend: str) -> dict[str, Artifact]:
        """For each graph, the artifact this backend should run: first by precision, then by format preference."""
        have = self.precisions
        if precision is None:
            precision = "fp32" if "fp32" in have else have[0]
        if precision not in have:
            raise UsageError(
                f"Bundle {self.root} has no '{precision}' artifacts (it has: {', '.join(have)}).{did_you_mean(precision, have)} "
                f"Add one with: edgetool quantize {self.root} --precision {precision}"
            )
        def runnable(a: Artifact) -> bool:  # e.g. TensorRT's fp16 is an fp32 ONNX that only its engine build makes fp16
            only = a.options.get("backends")
            return a.format in formats and (not only or backend in only)

        chosen: dict[str, Artifact] = {}
        for graph in self.graphs:
            candidates = [a for a in self.artifacts if a.graph == graph and a.precision == precision and runnable(a)]
            if not candidates and graph in ALTERNATIVE_GRAPHS:  # another engine's form: this one runs the graph it replaces
                continue
            if not candidates:
                here = [a for a in self.artifacts if a.graph == graph and a.precision == precision]
                only = sorted({b for a in here if a.format in formats for b in a.options.get("backends", ())})
                if only:
                    raise UsageError(
                        f"Backend '{backend}' cannot run graph '{graph}' at {precision} from this bundle: its "
                        f"{precision} artifact is an ONNX that only {', '.join(only)} turns into {precision} (when it "
                        f"builds its engine). Use --backend {only[0]}, or add a {precision} artifact for {backend}: "
                        f"edgetool quantize {self.root} --precision {precision}"
                    )
                usable = sorted({a.format for a in here})
                raise UsageError(
                    f"Backend '{backend}' cannot run graph '{graph}' at {precision} from this bundle: it reads "
                    f"{', '.join(formats)}, the bundle has {', '.join(usable) or 'nothing'} for it. "
                    "Pick another --backend, or export for this target."
                )
            # the backend's own target first (a trt artifact carries its engine recipe), then by format preference
            chosen[graph] = min(candidates, key=lambda a: (TARGET_BACKEND.get(a.target) != backend,
                                                           formats.index(a.format)))
        return chosen

    def graph_spec(self, art: Artifact) -> GraphSpec:
        """The graph's inputs and outputs as this artifact has them: the manifest's, with the dtypes the artifact
        changed (options "io_dtypes", name -> numpy dtype: e.g. an int8 KV cache, quantize/kv_cache.py)."""
        spec = self.graphs[art.graph]
        changed = art.options.get("io_dtypes") or {}
        if not changed:
            return spec

        def retyped(tensors):
            return tuple(TensorSpec(t.name, changed.get(t.name, t.dtype), t.shape) for t in tensors)

        return GraphSpec(spec.name, retyped(spec.inputs), retyped(spec.outputs))

    def artifact(self, artifact_id: str) -> list[Artifact]:
        """Artifacts matching 'target/precision' (all graphs) or 'target/precision/graph'."""
        found = [a for a in self.artifacts if a.id == artifact_id or a.id.startswith(artifact_id.rstrip("/") + "/")]
        if not found:
            known = sorted({f"{a.target}/{a.precision}" for a in self.artifacts})
            raise UsageError(f"No artifact '{artifact_id}' in {self.root}. It has: {', '.join(known)}.")
        return found


class Verification:
    """Hashes of some bundle files, computed in a background thread (Bundle.verify_in_background)."""

    def __init__(self, bundle: Bundle, rels: list[str]):
        self._bundle = bundle
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(rels,), name="edgetool-verify", daemon=True)
        self._thread.start()

    def _run(self, rels: list[str]) -> None:
        try:
            for rel in rels:
                self._bundle.file(rel)
        except BaseException as e:  # noqa: B036 — handed to wait(), raised in the caller's thread
            self._error = e

    def wait(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error
