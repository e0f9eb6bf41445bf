"""etcd (v3 API) as Patroni's distributed configuration store: one member on the host.

It listens on loopback for the harness and, in `netns` mode, on the bridge address for the members;
it advertises the address members use, since Patroni's client follows the advertised URLs.

One member is enough for the embedded stack: the drills that matter (DCS outage) kill or
partition it as a whole. A three-member etcd would only add start-up time here.
"""

from __future__ import annotations

import base64
import json
import signal
import urllib.request

from waqiti_drill.platform.local.context import LocalContext, find_binary, port_free, require_ports_free
from waqiti_drill.platform.local.runas import make_dir
from waqiti_drill.platform.local.supervisor import ProcessSpec
from waqiti_drill.waiting import wait_until

PROCESS = "etcd"


class Etcd:
    def __init__(self, ctx: LocalContext) -> None:
        self.ctx = ctx
        self.dir = ctx.state_dir / "etcd"

    @property
    def client_url(self) -> str:
        return f"http://{self.ctx.host}:{self.ctx.settings.ports.etcd_client}"

    def ports(self) -> dict[str, int]:
        p = self.ctx.settings.ports
        return {"etcd_client": p.etcd_client, "etcd_peer": p.etcd_peer}

    def process_names(self) -> list[str]:
        return [PROCESS]

    @property
    def member_url(self) -> str:
        """The client URL as the PostgreSQL members reach it."""
        return f"http://{self.ctx.dcs_host}:{self.ctx.settings.ports.etcd_client}"

    def argv(self) -> list[str]:
        peer = f"http://{self.ctx.host}:{self.ctx.settings.ports.etcd_peer}"
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
        with urllib.request.urlopen(f"{self.client_url}/health", timeout=2) as resp:
            body = json.loads(resp.read())
        return body.get("health") == "true", f"etcd /health: {body}"

    def wait_ready(self, timeout: float) -> None:
        wait_until(self.healthy, timeout, f"etcd to answer /health at {self.client_url}")

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under `prefix` (v3 gRPC gateway's deleterange); the number deleted."""
        key = prefix.encode()
        end = key[:-1] + bytes([key[-1] + 1])
        body = json.dumps({"key": base64.b64encode(key).decode(), "range_end": base64.b64encode(end).decode()})
        request = urllib.request.Request(f"{self.client_url}/v3/kv/deleterange", data=body.encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(json.loads(resp.read()).get("deleted", 0))

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
