"""Verify a bundle's OpenSSF Model Signing signature (`edgetool.sig`) on the device, offline and light.

The signature is the `model_signing` library's standard format: a sigstore bundle (JSON) whose DSSE
envelope carries an in-toto statement listing the sha256 of every file of the directory, signed with an
elliptic-curve key or a certificate; `model_signing verify key BUNDLE --public_key PUB --signature
BUNDLE/edgetool.sig` checks the same file, and `edgetool sign` writes it with that library.

The device does not import that library (0.5–1 s of imports before the first answer): the envelope's
signature is checked here with `cryptography` (a certificate chain with OpenSSL's verifier, as the
library does), the directory listing and the manifest's bytes are compared with the signed list at once,
and the other files are hashed against it while the engine sessions are built (runtime/bundle.py) —
the same single hash pass as without a key, so a signature costs milliseconds, not a second pass.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from .digest import sha256_file
from .errors import BundleError, EngineMissingError, UsageError
from .manifest import MANIFEST

SIGNATURE = "edgetool.sig"
EXTRA = "pip install 'edgetool[verify]'"  # cryptography + pyOpenSSL (edgetool[signing], which signs, has them too)
# left out of the signed list, as the model_signing CLI does by default (the signature itself, git's files)
IGNORED = (SIGNATURE, ".git", ".gitattributes", ".github", ".gitignore")
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
CURVE_HASH = {"secp256r1": "SHA256", "secp384r1": "SHA384", "secp521r1": "SHA512"}  # sigstore's key/hash pairs


def signing_available() -> str | None:
    """None when signatures can be verified here (cryptography, and pyOpenSSL for certificate chains)."""
    try:
        import cryptography.hazmat.primitives.asymmetric.ec  # noqa: F401
        import OpenSSL.crypto  # noqa: F401
    except ImportError as e:
        return str(e)
    return None


def refusal(root: Path, reason: str) -> BundleError:
    return BundleError(f"{root}: signature check failed: {reason}. Do not use this bundle; get it again from its "
                       "source (a changed edgetool.json or artifact is refused).")


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


def verify_signature(root: Path, key: str | Path) -> dict[str, str]:
    """Check BUNDLE/edgetool.sig against `key` and the directory against its signed list; returns that list
    ({relative path: sha256}). Raises BundleError naming what is wrong. What it leaves to the caller: hashing
    the files other than edgetool.json and its digest (Bundle does that once, beside session creation)."""
    root, key = Path(root), Path(key)
    kind = key_kind(key)
    sig = root / SIGNATURE
    if not sig.is_file():
        raise BundleError(f"{root} is not signed (no {SIGNATURE}), and a verification key is required ({key}). "
                          "Sign it where it is built: edgetool sign BUNDLE --key PRIVATE.pem")
    try:
        envelope, material = _read(sig)
        payload = base64.b64decode(envelope["payload"])
        signature = base64.b64decode(envelope["signatures"][0]["sig"])
        payload_type = envelope["payloadType"]
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise refusal(root, f"{SIGNATURE} is not an OpenSSF Model Signing signature ({type(e).__name__}: {e})") from None
    public_key = _public_key(root, key, kind, material)
    _check_envelope(root, key, public_key, payload_type, payload, signature)
    signed = _signed_files(root, json.loads(payload))
    _check_directory(root, signed)
    return signed


def _crypto():
    try:
        from cryptography import exceptions, x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
    except ImportError as e:
        raise EngineMissingError(f"Verifying a bundle's signature needs the signing extra (import failed: {e}). "
                                 f"Install it with: {EXTRA}") from None
    return exceptions, x509, hashes, serialization, ec


def _read(sig: Path) -> tuple[dict, dict]:
    bundle = json.loads(sig.read_text(encoding="utf-8"))
    if not str(bundle.get("mediaType", "")).startswith("application/vnd.dev.sigstore.bundle"):
        raise ValueError(f"mediaType {bundle.get('mediaType')!r} is not a sigstore bundle")
    return bundle["dsseEnvelope"], bundle.get("verificationMaterial") or {}


def _public_key(root: Path, key: Path, kind: str, material: dict):
    """The key the envelope must be signed with: the given public key (its hint must match), or the leaf of
    the bundle's certificate chain once the chain verifies up to the given certificates."""
    _, x509, _, serialization, ec = _crypto()
    if kind == "key":
        if "publicKey" not in material:
            raise refusal(root, f"it was signed with a certificate, not a key: pass the certificate chain it was "
                                f"issued under as --verify-key (not {key})")
        public_key = serialization.load_pem_public_key(key.read_bytes())
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or public_key.curve.name not in CURVE_HASH:
            raise UsageError(f"'{key}' is not an elliptic-curve public key on P-256, P-384 or P-521 (what OpenSSF "
                             "Model Signing signs with).")
        spki = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        hint = material["publicKey"].get("hint")
        if hint and hint != hashlib.sha256(spki).hexdigest():
            raise refusal(root, f"not signed by {key} (the signature names another key, {hint[:12]}…)")
        return public_key
    chain = material.get("x509CertificateChain", {}).get("certificates") or (
        [material["certificate"]] if "certificate" in material else [])
    if not chain:
        raise refusal(root, f"it was signed with a key, not a certificate: pass that public key as --verify-key "
                            f"(not {key})")
    certs = [x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"])) for c in chain]
    _check_chain(root, key, certs)
    return certs[0].public_key()


def _check_chain(root: Path, key: Path, certs: list) -> None:
    """OpenSSL's chain verification against the given certificates, at the signing certificate's start
    (signing certificates are short-lived), and a leaf allowed to sign — what model_signing checks."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID
    try:
        from OpenSSL import crypto
    except ImportError as e:
        raise EngineMissingError(f"Verifying a certificate chain needs pyOpenSSL (import failed: {e}). "
                                 f"Install it with: {EXTRA}") from None
    store = crypto.X509Store()
    for trusted in x509.load_pem_x509_certificates(key.read_bytes()):
        store.add_cert(crypto.X509.from_cryptography(trusted))
    store.set_time(certs[0].not_valid_before_utc)
    context = crypto.X509StoreContext(store, crypto.X509.from_cryptography(certs[0]),
                                      [crypto.X509.from_cryptography(c) for c in certs[1:]])
    try:
        context.verify_certificate()
    except crypto.X509StoreContextError as e:
        raise refusal(root, f"not signed under {key} (certificate chain: {e})") from None
    extensions = certs[0].extensions
    try:
        can_sign = extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    except x509.ExtensionNotFound:
        can_sign = False
    try:
        can_sign = can_sign or ExtendedKeyUsageOID.CODE_SIGNING in extensions.get_extension_for_class(
            x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        pass
    if not can_sign:
        raise refusal(root, "the signing certificate is not allowed to sign (no digitalSignature key usage, no "
                            "codeSigning extended key usage)")


def _check_envelope(root: Path, key: Path, public_key, payload_type: str, payload: bytes, signature: bytes) -> None:
    """The DSSE signature over PAE(payloadType, payload) (DSSE v1 protocol), hashed as sigstore pairs it."""
    exceptions, _, hashes, _, ec = _crypto()
    if payload_type != PAYLOAD_TYPE:
        raise refusal(root, f"the signed payload is {payload_type!r}, not an in-toto statement")
    pae = b"DSSEv1 %d %s %d %s" % (len(PAYLOAD_TYPE), PAYLOAD_TYPE.encode(), len(payload), payload)
    digest = getattr(hashes, CURVE_HASH.get(public_key.curve.name, "SHA256"))()
    try:
        public_key.verify(signature, pae, ec.ECDSA(digest))
    except exceptions.InvalidSignature:
        raise refusal(root, f"not signed by {key} (the signature does not verify with it)") from None


def _signed_files(root: Path, statement: dict) -> dict[str, str]:
    """{path: sha256} from the in-toto statement, its root digest checked against the listed digests."""
    try:
        if statement["_type"] != STATEMENT_TYPE or statement["predicateType"] != PREDICATE_TYPE:
            raise ValueError(f"statement {statement['_type']} / {statement['predicateType']}")
        serialization = statement["predicate"]["serialization"]
        if serialization.get("method") != "files" or serialization.get("hash_type") != "sha256":
            raise refusal(root, f"signed with {serialization.get('method')}/{serialization.get('hash_type')} "
                                "hashing; edgetool verifies per-file sha256 signatures (model_signing's default, "
                                "what edgetool sign writes): re-sign the bundle with edgetool sign")
        resources = statement["predicate"]["resources"]
        signed = {r["name"]: r["digest"] for r in resources if r["algorithm"] == "sha256"}
        if len(signed) != len(resources):
            raise ValueError("a resource is not hashed with sha256")
        root_digest = hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in resources)).hexdigest()
        if root_digest != statement["subject"][0]["digest"]["sha256"]:
            raise ValueError("the listed digests do not add up to the signed root digest")
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise refusal(root, f"the signed statement is not a model_signing v1.0 file list ({e}); re-sign the bundle "
                            "with edgetool sign") from None
    return signed


def _check_directory(root: Path, signed: dict[str, str]) -> None:
    """Every signed file present, nothing added, and the manifest's own bytes (read before anything else
    of the bundle is used) equal to what was signed."""
    present = set()
    for dirpath, dirnames, filenames in os.walk(root):
        top = Path(dirpath) == root
        dirnames[:] = sorted(d for d in dirnames if not (top and d in IGNORED))
        for name in filenames:
            if top and name in IGNORED:
                continue
            present.add((Path(dirpath) / name).relative_to(root).as_posix())
    parts = []
    changed = [rel for rel in (MANIFEST, MANIFEST + ".sha256")
               if rel in signed and rel in present and sha256_file(root / rel) != signed[rel]]
    if changed:
        parts.append(f"changed since signing: {', '.join(changed)}")
    if missing := sorted(set(signed) - present):
        parts.append(f"signed but missing (removed or renamed): {', '.join(missing)}")
    if added := sorted(present - set(signed)):
        parts.append(f"not covered by the signature (added): {', '.join(added)}")
    if MANIFEST not in signed and MANIFEST not in missing:
        parts.append(f"{MANIFEST} is not covered by the signature")
    if parts:
        raise refusal(root, "; ".join(parts))

