"""Verify a bundle's OpenSSF Model Signing signature (`edgetool.sig`) on the device, offline.

The signature is the `model_signing` library's standard format (a sigstore bundle over the directory's
file hashes, signed with an elliptic-curve key or a certificate); `model_signing verify key BUNDLE
--public_key PUB --signature BUNDLE/edgetool.sig` checks the same file. The library is the
`edgetool[signing]` extra and is imported only here, only when a key is given.
"""
from __future__ import annotations

import re
from pathlib import Path

from .errors import BundleError, EngineMissingError, UsageError
from .manifest import MANIFEST

SIGNATURE = "edgetool.sig"
EXTRA = "pip install 'edgetool[signing]'"


def signing_available() -> str | None:
    """None when model_signing (and the pyOpenSSL it imports) can be imported, else why not."""
    try:
        import model_signing.verifying  # noqa: F401
    except ImportError as e:
        return str(e)
    return None


def _library():
    try:
        from model_signing import hashing, verifying
    except ImportError as e:
        raise EngineMissingError(f"Verifying a bundle's signature needs the signing extra (import failed: {e}). "
                                 f"Install it with: {EXTRA}") from None
    return hashing, verifying


def hashing_config(hashing):
    """What the model_signing CLI hashes by default, the signature file itself left out."""
    return hashing.Config().set_ignored_paths(paths=[SIGNATURE], ignore_git_paths=True)


def key_kind(path: Path) -> str:
    """'certificate' for a PEM certificate chain, 'key' for a public key; a usage error for anything else."""
    if not path.is_file():
        raise UsageError(f"Verification key '{path}' does not exist. Pass the public key (PEM) the bundle was "
                         "signed for, e.g. --verify-key /etc/edgetool/bundle-signing.pub")
    head = path.read_bytes()[:4096]
    if b"-----BEGIN CERTIFICATE-----" in head:
        return "certificate"
    if b"-----BEGIN PUBLIC KEY-----" in head:
        return "key"
    if b"PRIVATE KEY-----" in head:
        raise UsageError(f"'{path}' is a private key; verification takes the public key "
                         f"(openssl ec -in {path} -pubout -out public.pem). Keep the private key off the device.")
    raise UsageError(f"'{path}' is neither a PEM public key nor a PEM certificate chain.")


def _why(root: Path, message: str) -> str:
    """model_signing's mismatch message, as one line naming the files."""
    message = message.replace("\\'", "'")  # the library joins repr()s: quotes may come escaped
    changed = re.findall(r"Hash mismatch for '([^']+)'", message)
    extra = re.search(r"Extra files found in model '[^']*': ([^\"'\]]+)", message)
    missing = re.search(r"Missing files in model '[^']*': ([^\"'\]]+)", message)
    parts = []
    if changed:
        parts.append(f"changed since signing: {', '.join(changed)}")
    if missing:
        parts.append(f"signed but missing (removed or renamed): {missing.group(1).strip()}")
    if extra:
        parts.append(f"not covered by the signature (added): {extra.group(1).strip()}")
    return "; ".join(parts) if parts else " ".join(message.split())[:300]


def verify_bundle(root: Path, key: str | Path) -> None:
    """Raise BundleError unless BUNDLE/edgetool.sig is a valid signature by `key` over every file of root."""
    root, key = Path(root), Path(key)
    kind = key_kind(key)
    hashing, verifying = _library()
    sig = root / SIGNATURE
    if not sig.is_file():
        raise BundleError(f"{root} is not signed (no {SIGNATURE}), and a verification key is required ({key}). "
                          "Sign it where it is built: edgetool sign BUNDLE --key PRIVATE.pem")
    config = verifying.Config()
    if kind == "certificate":
        config.use_certificate_verifier(certificate_chain=[key])
    else:
        config.use_elliptic_key_verifier(public_key=key)
    try:
        config.set_hashing_config(hashing_config(hashing)).verify(root, sig)
    except Exception as e:  # noqa: BLE001 — the library raises ValueError and crypto/parse errors alike
        message = str(e)
        if "Key mismatch" in message or "signature" in message.lower() and "mismatch" not in message.lower():
            reason = f"not signed by {key} ({' '.join(message.split())[:160]})"
        else:
            reason = _why(root, message)
        raise BundleError(f"{root}: signature check failed: {reason}. Do not use this bundle; get it again from "
                          f"its source (a changed {MANIFEST} or artifact is refused).") from None
