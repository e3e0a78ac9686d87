"""Sign a bundle with OpenSSF Model Signing (the `model_signing` library, extra `edgetool[signing]`).

`sign_bundle` writes BUNDLE/edgetool.sig in the library's standard format (a sigstore bundle over the
sha256 of every file of the directory but the signature itself), exactly what `model_signing sign key
BUNDLE --private_key KEY --signature BUNDLE/edgetool.sig` writes; verification lives in the runtime
(runtime/signing.py) so that a device needs no tooling.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable

from edgetool.runtime.errors import EngineMissingError, UsageError
from edgetool.runtime.signing import SIGNATURE

EXTRA = "pip install 'edgetool[signing]'"


def _library():
    try:
        from model_signing import hashing, signing
    except ImportError as e:
        raise EngineMissingError(f"Signing a bundle needs the signing extra (import failed: {e}). "
                                 f"Install it with: {EXTRA}") from None
    return hashing, signing


def hashing_config(hashing):
    """What the model_signing CLI hashes by default (per-file sha256), the signature file itself left out —
    the list the device checks (runtime/signing.py IGNORED)."""
    return hashing.Config().set_ignored_paths(paths=[SIGNATURE], ignore_git_paths=True)


def check_private_key(key: str | Path, certificate: str | Path | None = None, chain: Iterable = ()) -> None:
    """Fail early (before an export's minutes of work) on a key that cannot sign."""
    _library()
    key = Path(key)
    if not key.is_file():
        raise UsageError(f"Signing key '{key}' does not exist. Make one: openssl ecparam -name prime256v1 -genkey "
                         f"-noout -out {key}")
    head = key.read_bytes()[:4096]
    if b"PRIVATE KEY-----" not in head:
        raise UsageError(f"'{key}' is not a PEM private key (signing takes the private key; the device gets the "
                         "public one).")
    for p in ([certificate] if certificate else []) + list(chain):
        if not Path(p).is_file():
            raise UsageError(f"Certificate '{p}' does not exist.")
    if chain and not certificate:
        raise UsageError("--cert-chain needs --cert (the signing certificate of the key).")


def sign_bundle(root: str | Path, key: str | Path, certificate: str | Path | None = None,
                chain: Iterable[str | Path] = ()) -> Path:
    """Sign every file of the bundle directory; returns the signature's path. With `certificate` (and
    optionally its `chain` up to a root), the signature carries the certificate (certificate mode)."""
    root = Path(root)
    check_private_key(key, certificate, chain)
    hashing, signing = _library()
    config = signing.Config()
    if certificate:
        config.use_certificate_signer(private_key=key, signing_certificate=certificate,
                                      certificate_chain=[Path(c) for c in chain])
    else:
        config.use_elliptic_key_signer(private_key=key)
    config.set_hashing_config(hashing_config(hashing))
    # written next to the bundle, then renamed into it: never a half signature, never a temp file hashed
    fd, tmp = tempfile.mkstemp(dir=root.parent, prefix=f".{root.name}.sig-")
    os.close(fd)
    try:
        try:
            config.sign(root, tmp)
        except (ValueError, TypeError) as e:
            raise UsageError(f"Could not sign {root} with {key}: {' '.join(str(e).split())}") from None
        os.chmod(tmp, 0o644)
        Path(tmp).replace(root / SIGNATURE)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return root / SIGNATURE
