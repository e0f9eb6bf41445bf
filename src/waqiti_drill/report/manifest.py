"""Integrity of a run: a SHA-256 manifest of the whole run directory, signed with Ed25519.

The manifest covers every file of the run (raw histories, fault records, journal, Locust stats,
results.json, run.json, allure-results, the evidence report and the public key), not only evidence/:
an auditor's question is whether the figures follow from untouched raw data, so the raw data must be
covered. Left out, and only these: the manifest and its signature themselves, and allure-report/ (a
generated viewer of allure-results, which are covered, and thousands of third-party asset files).

The public key travels in the run (evidence/signing_key.pub.pem) so a run verifies anywhere; a run
re-signed with another key still verifies against itself, so `verify` prints the key's fingerprint
and takes --public-key to pin the key the auditor was given.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from waqiti_drill.errors import InvalidConfig

EVIDENCE_DIR = "evidence"
MANIFEST = f"{EVIDENCE_DIR}/MANIFEST.json"
SIGNATURE = f"{EVIDENCE_DIR}/MANIFEST.sig"
PUBLIC_KEY = f"{EVIDENCE_DIR}/signing_key.pub.pem"
EXCLUDED_FILES = {MANIFEST, SIGNATURE}
EXCLUDED_DIRS = ("allure-report",)


def default_key_path() -> Path:
    """Outside the stack's state directory on purpose: `drill down --purge` must not take the key with it
    (a key that changes with every stack would make past runs' signatures meaningless)."""
    if os.environ.get("DRILL_SIGNING_KEY"):
        return Path(os.environ["DRILL_SIGNING_KEY"]).expanduser()
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config_home / "waqiti-drill" / "signing_key.pem"


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The signing key at `path`, generated (mode 600) on first use."""
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise InvalidConfig(f"{path}: the signing key is readable by others (mode {mode:o}); chmod 600 it, or "
                                "a signature made with it proves nothing")
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError, OSError) as exc:
            raise InvalidConfig(f"{path}: not a readable unencrypted PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidConfig(f"{path}: not an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")


def covered_files(run_dir: Path) -> list[str]:
    """Run-relative POSIX paths of every file the manifest covers, sorted."""
    out = []
    for path in run_dir.rglob("*"):
        rel = path.relative_to(run_dir).as_posix()
        if path.is_dir() or rel in EXCLUDED_FILES or rel.split("/", 1)[0] in EXCLUDED_DIRS:
            continue
        out.append(rel)
    return sorted(out)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sign_run(run_dir: Path, key: Ed25519PrivateKey) -> dict[str, object]:
    """Ship the public key, hash every covered file, write MANIFEST.json and its detached signature."""
    (run_dir / EVIDENCE_DIR).mkdir(exist_ok=True)
    (run_dir / PUBLIC_KEY).write_bytes(public_pem(key.public_key()))
    files = {rel: sha256_file(run_dir / rel) for rel in covered_files(run_dir)}
    manifest = {"algorithm": "sha256", "signature": "ed25519", "covers": "the whole run directory except "
                f"{', '.join(sorted(EXCLUDED_FILES))} and {', '.join(d + '/' for d in EXCLUDED_DIRS)}",
                "public_key_fingerprint": fingerprint(key.public_key()), "files": files}
    data = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    (run_dir / MANIFEST).write_bytes(data)
    (run_dir / SIGNATURE).write_bytes(base64.b64encode(key.sign(data)) + b"\n")
    return manifest


@dataclass
class Verification:
    fingerprint: str | None = None
    files: int = 0
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    signature_problem: str | None = None

    @property
    def problems(self) -> list[str]:
        lines = [f"changed: {p}" for p in self.changed] + [f"missing: {p}" for p in self.missing]
        lines += [f"added: {p}" for p in self.added]
        return lines + ([f"bad signature: {self.signature_problem}"] if self.signature_problem else [])


def _public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (ValueError, OSError) as exc:
        raise InvalidConfig(f"{path}: not a readable PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidConfig(f"{path}: not an Ed25519 public key")
    return key


def verify_run(run_dir: Path, pinned_key: Path | None = None) -> Verification:
    """Every difference between the run and its signed manifest; no exception for tampering (the caller
    reports all of it at once), InvalidConfig only when there is no manifest to verify against."""
    manifest_path = run_dir / MANIFEST
    if not manifest_path.is_file():
        raise InvalidConfig(f"{manifest_path}: no such file (run 'drill report' to build and sign the evidence)")
    data = manifest_path.read_bytes()
    result = Verification()
    _check_signature(run_dir, data, pinned_key, result)
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = None
    listed = parsed.get("files") if isinstance(parsed, dict) else None
    if not isinstance(listed, dict):
        result.signature_problem = result.signature_problem or f"{MANIFEST} is not a manifest"
        return result
    present = set(covered_files(run_dir))
    result.files = len(listed)
    result.missing = sorted(set(listed) - present)
    result.added = sorted(present - set(listed))
    result.changed = sorted(rel for rel in set(listed) & present if sha256_file(run_dir / rel) != listed[rel])
    return result


def _check_signature(run_dir: Path, data: bytes, pinned_key: Path | None, result: Verification) -> None:
    key_path = pinned_key or run_dir / PUBLIC_KEY
    if not key_path.is_file():
        result.signature_problem = f"{key_path}: no public key to verify with"
        return
    key = _public_key(key_path)
    result.fingerprint = fingerprint(key)
    try:
        signature = base64.b64decode((run_dir / SIGNATURE).read_bytes().strip(), validate=True)
        key.verify(signature, data)
    except FileNotFoundError:
        result.signature_problem = f"{SIGNATURE} is missing"
    except (InvalidSignature, ValueError):
        result.signature_problem = f"{SIGNATURE} does not match {MANIFEST} under key {result.fingerprint}"
