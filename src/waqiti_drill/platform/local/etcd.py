"""etcd (v3 API) as Patroni's distributed configuration store: one member on the host.

It listens on loopback for the harness and, in `netns` mode, on the bridge address for the members;
it advertises the address members use, since Patroni's client follows the advertised URLs.

One member is enough for the embedded stack: the drills that matter (DCS outage) kill or
partition it as a whole. A three-member etcd would only add start-up time here.

TLS on both ports, with client-certificate authentication: a client (Patroni, the harness) and a peer
must present a certificate of the stack's CA. etcd 3.4 has no minimum-version flag. Debian's 3.4.23
already refuses TLS 1.0 and 1.1 (its transport sets a TLS 1.2 floor: measured, a TLS 1.1 handshake gets
"protocol version" with no --cipher-suites), but it offers TLS 1.2's CBC suites. The suites are
restricted to TLS 1.2's ECDHE with AES-GCM or ChaCha20-Poly1305, which no older protocol can
negotiate, so the floor holds by our own configuration too, whatever a later build's default. TLS 1.3,
whose suites Go does not let anyone configure, stays available.
"""

from __future__ import annotations

import base64
import json
import signal

from waqiti_drill.platform.local.context import LocalContext, find_binary, port_free, require_ports_free
from waqiti_drill.platform.local.runas import make_dir
from waqiti_drill.platform.local.supervisor import ProcessSpec
from waqiti_drill.platform.local.tls import TlsFiles
from waqiti_drill.platform.local.tlsclient import get_json, request
from waqiti_drill.waiting import wait_until

PROCESS = "etcd"
# Go's names (etcd's --cipher-suites): TLS 1.2 only, forward secret, AEAD. The ECDSA ones serve the
# stack's EC key; the RSA ones are there so a deployment with RSA certificates keeps working.
CIPHER_SUITES = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
)


def tls_flags(tls: TlsFiles) -> list[str]:
    """etcd's TLS options: client and peer certificates required, TLS 1.2 suites only (pure)."""
    return [
        f"--cert-file={tls.cert}",
        f"--key-file={tls.key}",
        f"--trusted-ca-file={tls.ca_cert}",
        "--client-cert-auth=true",
        f"--peer-cert-file={tls.cert}",
        f"--peer-key-file={tls.key}",
        f"--peer-trusted-ca-file={tls.ca_cert}",
        "--peer-client-cert-auth=true",
        f"--cipher-suites={','.join(CIPHER_SUITES)}",
    ]


class Etcd:
    def __init__(self, ctx: LocalContext) -> None:
        self.ctx = ctx
        self.dir = ctx.state_dir / "etcd"

    @property
    def client_url(self) -> str:
        return f"https://{self.ctx.host}:{self.ctx.settings.ports.etcd_client}"

    def ports(self) -> dict[str, int]:
        p = self.ctx.settings.ports
        return {"etcd_client": p.etcd_client, "etcd_peer": p.etcd_peer}

    def process_names(self) -> list[str]:
        return [PROCESS]

    @property
    def member_url(self) -> str:
        """The client URL as the PostgreSQL members reach it."""
        return f"https://{self.ctx.dcs_host}:{self.ctx.settings.ports.etcd_client}"

    def argv(self) -> list[str]:
        peer = f"https://{self.ctx.host}:{self.ctx.settings.ports.etcd_peer}"
        listen = [self.client_url] + ([self.member_url] if self.member_url != self.client_url else [])
        return [
            find_binary("etcd", "the Debian package etcd-server"),
            "--name=waqiti-dcs",
            f"--data-dir={self.dir / 'data'}",
            f"--listen-client-urls={','.join(listen)}",
            f"--advertise-client-urls={self.member_url}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=waqiti-dcs={peer}",
            "--initial-cluster-state=new",
            "--initial-cluster-token=waqiti-drill",
            "--enable-v2=false",
            "--log-level=warn",
            "--logger=zap",
            *tls_flags(self.ctx.tls),
        ]

    def start(self) -> None:
        sup = self.ctx.supervisor
        if sup.pid_of(PROCESS):
            return
        require_ports_free(self.ctx.host, self.ports(), "etcd")
        make_dir(self.ctx.user, self.dir)
        sup.start(ProcessSpec(name=PROCESS, argv=self.argv(), cwd=self.dir))

    def healthy(self) -> tuple[bool, str]:
        self.ctx.supervisor.check_alive(PROCESS, "etcd")
        body = get_json(self.ctx.tls, f"{self.client_url}/health", timeout=2)
        return body.get("health") == "true", f"etcd /health: {body}"

    def wait_ready(self, timeout: float) -> None:
        wait_until(self.healthy, timeout, f"etcd to answer /health at {self.client_url}")

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under `prefix` (v3 gRPC gateway's deleterange); the number deleted."""
        key = prefix.encode()
        end = key[:-1] + bytes([key[-1] + 1])
        body = {"key": base64.b64encode(key).decode(), "range_end": base64.b64encode(end).decode()}
        answer = request(self.ctx.tls, f"{self.client_url}/v3/kv/deleterange", timeout=10, body=body)
        return int(json.loads(answer).get("deleted", 0))

    # ----- DCS process faults ----------------------------------------------------------------------
    def kill(self) -> None:
        """SIGKILL etcd (a crashed DCS); returns once no process of it is left and its ports are free."""
        sup = self.ctx.supervisor
        sup.signal_under(self.dir, signal.SIGKILL)

        def gone() -> tuple[bool, list[int]]:
            left = sup.signal_under(self.dir, signal.SIGKILL)
            return not left, left

        wait_until(gone, 10.0, "etcd to exit after SIGKILL", interval=0.05)

        # The kernel tears the dead process's listeners down a moment later; until then start() would
        # take our own port for a foreign process's.
        def ports_released() -> tuple[bool, list[str]]:
            busy = [f"{host}:{port}" for host in {self.ctx.host, self.ctx.dcs_host} for port in self.ports().values()
                    if not port_free(host, port)]
            return not busy, busy

        wait_until(ports_released, 10.0, "etcd's ports to be released after SIGKILL", interval=0.05)

    def freeze(self) -> None:
        """SIGSTOP etcd: it holds its connections but answers nothing (a hung DCS)."""
        self.ctx.supervisor.freeze_under(self.dir)

    def thaw(self) -> None:
        self.ctx.supervisor.signal_under(self.dir, signal.SIGCONT)
