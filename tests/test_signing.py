"""Bundles a device can trust: the manifest is covered by a hash even without keys (edgetool.json.sha256),
and with OpenSSF Model Signing (`edgetool sign`, `--verify-key`) any change to any file is refused before the
manifest is used and before an answer; the signature interoperates with the `model_signing` CLI both ways."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_invoke import invoke_cli as cli

from edgetool.runtime import pipeline
from edgetool.runtime.bundle import MANIFEST, MANIFEST_DIGEST, SIGNATURE, VERIFY_KEY_ENV, Bundle, BundleWarning
from edgetool.runtime.errors import BundleError

TASK = "text-classification"
TEXT = "I love this"


def _one_line(r) -> str:
    """The output as a terminal shows it (a progress bar rewritten with \r and cleared leaves nothing)."""
    shown = (ln.rsplit("\r", 1)[-1] for ln in r.output.split("\n"))
    lines = [ln for ln in shown if ln.strip()]
    assert "Traceback" not in r.output
    assert len(lines) == 1, r.output
    return lines[0]


def _key_pair(folder: Path, name: str, curve: str = "SECP256R1") -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(getattr(ec, curve)())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    pytest.importorskip("model_signing", reason="needs edgetool[signing]")
    folder = tmp_path_factory.mktemp("keys")
    return {"ci": _key_pair(folder, "ci"), "other": _key_pair(folder, "other")}


@pytest.fixture(scope="module")
def signed(bundle_dir, keys, tmp_path_factory):
    root = tmp_path_factory.mktemp("signed") / "b"
    shutil.copytree(bundle_dir(TASK), root)
    r = cli("sign", root, "--key", keys["ci"][0])
    assert r.exit_code == 0, r.output
    assert (root / SIGNATURE).is_file()
    return root


@pytest.fixture
def copy(signed, tmp_path):
    dst = tmp_path / "b"
    shutil.copytree(signed, dst)
    return dst


# -- every file covered without keys ------------------------------------------------------------------
def _edit_manifest(root: Path, change) -> None:
    m = json.loads((root / MANIFEST).read_text())
    change(m)
    (root / MANIFEST).write_text(json.dumps(m, indent=2))


def _swap_labels(m):
    m["labels"]["0"], m["labels"]["1"] = m["labels"]["1"], m["labels"]["0"]


def _cut_tokens(m):
    m["processing"]["tokenizer"]["model_max_length"] = 4


@pytest.mark.parametrize("change", [_swap_labels, _cut_tokens], ids=["label", "processing"])
@pytest.mark.parametrize("command", ["run", "validate", "bench", "inspect"])
def test_a_changed_manifest_is_refused_without_keys(bundle_dir, tmp_path, change, command):
    root = tmp_path / "b"
    shutil.copytree(bundle_dir(TASK), root)
    _edit_manifest(root, change)
    args = {"run": [TEXT], "bench": ["--runs", "1", "--warmup", "0", "--no-cold-start"]}.get(command, [])
    r = cli(command, root, *args)
    assert r.exit_code == 2, r.output
    line = _one_line(r)
    assert f"'{MANIFEST}' does not match its sha256 in {MANIFEST_DIGEST}" in line and "changed after export" in line


def test_removed_and_renamed_files_are_refused_at_load_an_added_one_reported(bundle_dir, tmp_path):
    root = tmp_path / "b"
    shutil.copytree(bundle_dir(TASK), root)
    (root / "tokenizer.json").rename(root / "tokenizer-old.json")
    with pytest.raises(BundleError, match=r"'tokenizer.json' is listed in edgetool.json but missing \(removed or renamed\)"):
        Bundle.load(root)
    (root / "tokenizer-old.json").rename(root / "tokenizer.json")
    (root / "notes.txt").write_text("added")
    with pytest.warns(BundleWarning, match="'notes.txt' is not listed in edgetool.json"):
        pipe = pipeline(root)
    assert pipe(TEXT)[0]["label"]  # reported, not refused
    r = cli("run", root, TEXT)
    assert r.exit_code == 0 and "warning: " in r.output and "notes.txt" in r.output


def test_a_bundle_without_the_manifest_digest_is_refused_with_the_reexport_command(bundle_dir, tmp_path):
    root = tmp_path / "b"
    shutil.copytree(bundle_dir(TASK), root)
    (root / MANIFEST_DIGEST).unlink()
    with pytest.raises(BundleError, match=r"'edgetool.json.sha256' is missing.*Re-export it \(edgetool export"):
        Bundle.load(root)


def test_the_digest_is_sha256sum_format(bundle_dir):
    root = bundle_dir(TASK)
    if shutil.which("sha256sum"):
        assert subprocess.run(["sha256sum", "-c", MANIFEST_DIGEST], cwd=root, capture_output=True).returncode == 0


# -- signatures: every tamper refused with one line, nothing answered -----------------------------------
def _flip_byte(path: Path, at: int = 200) -> None:
    data = bytearray(path.read_bytes())
    data[at % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


def _tamper_label(root):
    _edit_manifest(root, _swap_labels)
    _reseal(root)  # whoever edits the manifest can rewrite its digest too: only the signature stops it


def _tamper_processing(root):
    _edit_manifest(root, _cut_tokens)
    _reseal(root)


def _reseal(root):
    from edgetool.bundle_writer import write_manifest_digest

    write_manifest_digest(root)


def _tamper_tokenizer(root):
    t = json.loads((root / "tokenizer.json").read_text())
    t["truncation"] = {"direction": "Right", "max_length": 4, "strategy": "LongestFirst", "stride": 0}
    (root / "tokenizer.json").write_text(json.dumps(t))


def _tamper_golden(root):
    _flip_byte(next(p for p in sorted((root / "golden").iterdir()) if p.is_file()))


def _tamper_artifact(root):
    _flip_byte(root / "onnx/fp32/model.onnx", 5000)


def _add_file(root):
    (root / "onnx/fp32/extra.onnx").write_bytes(b"\x00" * 16)


def _remove_file(root):
    next(p for p in sorted((root / "golden").iterdir()) if p.is_file()).unlink()


def _rename_file(root):
    (root / "tokenizer.json").rename(root / "tokenizer2.json")


TAMPERS = {"label": (_tamper_label, "changed since signing: edgetool.json"),
           "processing": (_tamper_processing, "changed since signing: edgetool.json"),
           "tokenizer": (_tamper_tokenizer, "changed since signing: tokenizer.json"),
           "golden": (_tamper_golden, "changed since signing: golden/"),
           "artifact": (_tamper_artifact, "changed since signing: onnx/fp32/model.onnx"),
           "added": (_add_file, "not covered by the signature (added): onnx/fp32/extra.onnx"),
           "removed": (_remove_file, "signed but missing (removed or renamed): golden/"),
           "renamed": (_rename_file, "signed but missing (removed or renamed): tokenizer.json")}


@pytest.mark.parametrize("case", list(TAMPERS))
def test_every_change_to_a_signed_bundle_is_refused(copy, keys, case):
    tamper, reason = TAMPERS[case]
    tamper(copy)
    r = cli("run", copy, TEXT, "--verify-key", keys["ci"][1])
    assert r.exit_code == 2, r.output
    line = _one_line(r)  # nothing answered: the error is the only output
    assert line.startswith("error: ") and "signature check failed" in line and reason in line, line


def test_signed_by_another_key_and_stripped_signature_are_refused(copy, keys):
    r = cli("run", copy, TEXT, "--verify-key", keys["other"][1])
    assert r.exit_code == 2 and f"not signed by {keys['other'][1]}" in _one_line(r)
    sig = json.loads((copy / SIGNATURE).read_text())  # the key hint is not signed: without it the check still fails
    sig["verificationMaterial"]["publicKey"].pop("hint")
    (copy / SIGNATURE).write_text(json.dumps(sig))
    r = cli("run", copy, TEXT, "--verify-key", keys["other"][1])
    assert r.exit_code == 2 and "(the signature does not verify with it)" in _one_line(r), r.output
    assert cli("run", copy, TEXT, "--verify-key", keys["ci"][1]).exit_code == 0
    (copy / SIGNATURE).unlink()
    r = cli("run", copy, TEXT, "--verify-key", keys["ci"][1])
    assert r.exit_code == 2 and "is not signed (no edgetool.sig)" in _one_line(r)


def test_validate_and_bench_verify_too(copy, keys):
    r = cli("validate", copy, "--verify-key", keys["ci"][1])
    assert r.exit_code == 0 and "PARITY OK" in r.output, r.output
    _tamper_artifact(copy)
    for command, extra in (("validate", []), ("bench", ["--runs", "1", "--warmup", "0", "--no-cold-start"])):
        r = cli(command, copy, *extra, "--verify-key", keys["ci"][1])
        assert r.exit_code == 2 and "changed since signing: onnx/fp32/model.onnx" in _one_line(r), r.output


def test_pipeline_verify_key_and_the_environment_variable(copy, keys, monkeypatch):
    import edgetool.runtime.bundle as bundle_module

    hashed = []
    real = bundle_module.sha256_file
    monkeypatch.setattr(bundle_module, "sha256_file", lambda p, *a: hashed.append(p) or real(p, *a))
    pipe = pipeline(copy, verify_key=keys["ci"][1])
    monkeypatch.undo()
    assert pipe.bundle.verified_by == str(keys["ci"][1])
    # every signed file hashed once, beside session creation: the signature adds no second pass
    listed = set(pipe.bundle.manifest.file_hashes())
    assert sorted(p.relative_to(copy).as_posix() for p in hashed) == sorted(listed)
    assert pipe(TEXT)[0]["label"]
    with pytest.raises(BundleError, match="not signed by"):
        pipeline(copy, verify_key=keys["other"][1])
    with pytest.raises(BundleError, match="not signed by"):  # a Bundle object given: loaded again, verified
        pipeline(Bundle.load(copy), verify_key=keys["other"][1])
    monkeypatch.setenv(VERIFY_KEY_ENV, str(keys["other"][1]))
    with pytest.raises(BundleError, match="not signed by"):
        pipeline(copy)
    r = cli("run", copy, TEXT)
    assert r.exit_code == 2 and "not signed by" in _one_line(r)
    monkeypatch.setenv(VERIFY_KEY_ENV, str(keys["ci"][1]))
    assert cli("run", copy, TEXT).exit_code == 0


# -- interop with the model_signing CLI -----------------------------------------------------------------
def _model_signing(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "model_signing", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_model_signing_cli_accepts_edgetools_signature(signed, keys):
    r = _model_signing("verify", "key", signed, "--public_key", keys["ci"][1], "--signature", signed / SIGNATURE)
    assert r.returncode == 0 and "Verification succeeded" in r.stdout + r.stderr, r.stdout + r.stderr
    r = _model_signing("verify", "key", signed, "--public_key", keys["other"][1], "--signature", signed / SIGNATURE)
    assert r.returncode != 0


def test_edgetool_accepts_a_bundle_signed_by_the_model_signing_cli(copy, keys):
    (copy / SIGNATURE).unlink()
    r = _model_signing("sign", "key", copy, "--private_key", keys["other"][0], "--signature", copy / SIGNATURE)
    assert r.returncode == 0, r.stdout + r.stderr
    assert pipeline(copy, verify_key=keys["other"][1])(TEXT)[0]["label"]
    with pytest.raises(BundleError, match="not signed by"):
        pipeline(copy, verify_key=keys["ci"][1])


@pytest.mark.parametrize("curve", ["SECP384R1", "SECP521R1"])
def test_larger_curves_verify_with_their_own_hash(copy, tmp_path, curve):
    """sigstore pairs P-384 with SHA-384 and P-521 with SHA-512; the device's check must hash the same."""
    private, public = _key_pair(tmp_path, curve, curve)
    (copy / SIGNATURE).unlink()
    r = _model_signing("sign", "key", copy, "--private_key", private, "--signature", copy / SIGNATURE)
    assert r.returncode == 0, r.stdout + r.stderr
    assert pipeline(copy, verify_key=public)(TEXT)[0]["label"]
    _tamper_artifact(copy)
    with pytest.raises(BundleError, match="changed since signing: onnx/fp32/model.onnx"):
        pipeline(copy, verify_key=public)(TEXT)


def _resign_statement(root: Path, private: Path, change) -> None:
    """Re-sign edgetool.sig's statement after `change(statement)` — a validly signed statement the device
    must still refuse (written with the DSSE protocol directly, as any signer could)."""
    import base64

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    bundle = json.loads((root / SIGNATURE).read_text())
    envelope = bundle["dsseEnvelope"]
    statement = json.loads(base64.b64decode(envelope["payload"]))
    change(statement)
    payload = json.dumps(statement).encode()
    kind = envelope["payloadType"].encode()
    pae = b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)
    key = serialization.load_pem_private_key(private.read_bytes(), None)
    envelope["payload"] = base64.b64encode(payload).decode()
    envelope["signatures"][0]["sig"] = base64.b64encode(key.sign(pae, ec.ECDSA(hashes.SHA256()))).decode()
    (root / SIGNATURE).write_text(json.dumps(bundle))


def _drop_resource(statement):  # a signer that left a file out (and fixed up the root digest)
    import hashlib

    resources = statement["predicate"]["resources"]
    resources[:] = [r for r in resources if r["name"] != "tokenizer.json"]
    statement["subject"][0]["digest"]["sha256"] = hashlib.sha256(
        b"".join(bytes.fromhex(r["digest"]) for r in resources)).hexdigest()


SIGNED_BUT_WRONG = {
    "shards": (lambda st: st["predicate"]["serialization"].update(method="shards", shard_size=1 << 20),
               "signed with shards/sha256 hashing; edgetool verifies per-file sha256 signatures"),
    "root digest": (lambda st: st["subject"][0]["digest"].update(sha256="0" * 64),
                    "do not add up to the signed root digest"),
    "file left out": (_drop_resource, "not covered by the signature (added): tokenizer.json"),
}


@pytest.mark.parametrize("case", list(SIGNED_BUT_WRONG))
def test_a_validly_signed_statement_that_does_not_cover_the_bundle_is_refused(copy, keys, case):
    change, reason = SIGNED_BUT_WRONG[case]
    _resign_statement(copy, keys["ci"][0], change)
    r = cli("run", copy, TEXT, "--verify-key", keys["ci"][1])
    assert r.exit_code == 2 and reason in _one_line(r), r.output


def test_a_corrupt_signature_file_is_one_line(copy, keys):
    (copy / SIGNATURE).write_text("{not json")
    r = cli("run", copy, TEXT, "--verify-key", keys["ci"][1])
    assert r.exit_code == 2 and "edgetool.sig is not an OpenSSF Model Signing signature" in _one_line(r), r.output


def test_certificate_mode(copy, keys, tmp_path):
    """`edgetool sign --cert --cert-chain` (model_signing's certificate signer); the chain verifies."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("edgetool test CA")).issuer_name(name("edgetool test CA"))
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(name("ci signer")).issuer_name(ca.subject)
            .public_key(leaf_key.public_key()).serial_number(2).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    key_pem, leaf_pem, ca_pem = tmp_path / "leaf.pem", tmp_path / "leaf.crt", tmp_path / "ca.crt"
    key_pem.write_bytes(leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    leaf_pem.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    r = cli("sign", copy, "--key", key_pem, "--cert", leaf_pem, "--cert-chain", ca_pem)
    assert r.exit_code == 0, r.output
    assert pipeline(copy, verify_key=ca_pem)(TEXT)[0]["label"]
    with pytest.raises(BundleError, match="signed with a certificate, not a key"):
        pipeline(copy, verify_key=keys["ci"][1])
    other_ca = tmp_path / "other-ca.crt"  # a chain that does not lead to the signing certificate's issuer
    other_ca.write_bytes(leaf_pem.read_bytes())
    with pytest.raises(BundleError, match=f"not signed under {other_ca}"):
        pipeline(copy, verify_key=other_ca)
    _tamper_artifact(copy)
    with pytest.raises(BundleError, match="changed since signing: onnx/fp32/model.onnx"):
        pipeline(copy, verify_key=ca_pem)


# -- writers keep the digest current; a signature goes stale on quantize ---------------------------------
def test_quantize_says_the_signature_is_stale_and_re_signs_with_the_key(copy, keys):
    r = cli("quantize", copy, "--precision", "fp16", "-q")
    assert r.exit_code == 0, r.output
    assert "warning: " in r.output and "the signature no longer matches the changed bundle and was removed" in r.output
    assert not (copy / SIGNATURE).exists()
    Bundle.load(copy).verify_all()  # the writer kept the manifest digest current
    with pytest.raises(BundleError, match="is not signed"):
        Bundle.load(copy, verify_key=keys["ci"][1])
    r = cli("quantize", copy, "--precision", "int8", "-q", "--sign-key", keys["ci"][0])
    assert r.exit_code == 0 and "signed again" in r.output, r.output
    b = Bundle.load(copy, verify_key=keys["ci"][1])
    assert b.precisions == ["fp32", "fp16", "int8"]


def test_export_sign_key(tmp_path, keys):
    out = tmp_path / "b"
    r = cli("export", "--task", TASK, "--out", out, "-q", "--sign-key", keys["ci"][0], "--no-parity-check")
    assert r.exit_code == 0 and "signed" in r.output, r.output
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp signature left
    assert pipeline(out, verify_key=keys["ci"][1])(TEXT)[0]["label"]


def test_sign_refuses_a_public_key_and_verify_a_private_one(copy, keys):
    r = cli("sign", copy, "--key", keys["ci"][1])
    assert r.exit_code == 2 and "is not a PEM private key" in _one_line(r)
    r = cli("run", copy, TEXT, "--verify-key", keys["ci"][0])
    assert r.exit_code == 2 and "is a private key" in _one_line(r)


# -- light on the device -------------------------------------------------------------------------------
def test_without_the_extra_verify_key_is_one_line_naming_it(copy, keys, monkeypatch):
    monkeypatch.setitem(sys.modules, "cryptography", None)  # import fails as if not installed
    r = cli("run", copy, TEXT, "--verify-key", keys["ci"][1])
    assert r.exit_code == 2
    assert "pip install 'edgetool[verify]'" in _one_line(r)


def test_the_runtime_imports_model_signing_only_with_a_key(bundle_dir):
    code = ("import sys; from edgetool.runtime import pipeline; "
            f"pipeline({str(bundle_dir(TASK))!r})({TEXT!r}); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('model_signing', 'sigstore', 'OpenSSL')]; "
            "assert not bad, bad")
    env = {k: v for k, v in __import__("os").environ.items() if k != VERIFY_KEY_ENV}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr


def test_verifying_imports_neither_model_signing_nor_sigstore(signed, keys):
    """The device checks the signature with cryptography alone: model_signing's 0.5-1 s of imports stay off
    the cold start."""
    code = ("import sys; from edgetool.runtime import pipeline; "
            f"pipeline({str(signed)!r}, verify_key={str(keys['ci'][1])!r})({TEXT!r}); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('model_signing', 'sigstore', 'sigstore_models')]; "
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_doctor_says_whether_verification_is_available_and_enforced(keys, monkeypatch):
    from edgetool.doctor import doctor, summary

    monkeypatch.delenv(VERIFY_KEY_ENV, raising=False)
    s = summary(doctor())
    assert s["verify_signatures"] is True and s["verification_enforced"] is False
    monkeypatch.setenv(VERIFY_KEY_ENV, str(keys["ci"][1]))
    rows = doctor()
    row = next(r for r in rows if r["component"] == "signing (verify)")
    assert row["status"] == "ok" and f"enforced: {VERIFY_KEY_ENV}=" in row["detail"]
    assert summary(rows)["verification_enforced"] is True


def test_inspect_says_whether_a_bundle_is_signed(signed, bundle_dir):
    assert "signed   edgetool.sig" in cli("inspect", signed).output
    assert "signed   no (edgetool sign" in cli("inspect", bundle_dir(TASK)).output
