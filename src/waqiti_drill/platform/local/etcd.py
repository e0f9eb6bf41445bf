"""etcd (v3 API) as Patroni's distributed configuration store: one member on loopback.

One member is enough for the embedded stack: the drills that matter (DCS outage) kill or
partition it as a whole. A three-member etcd would only add start-up time here.
"""

from __future__ import annotations

import json
import urllib.request

from waqiti_drill.platform.local.context import LocalContext, find_binary, require_ports_free
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

    def argv(self) -> list[str]:
        peer = f"http://{self.ctx.host}:{self.ctx.settings.ports.etcd_peer}"
        return [
            find_binary("etcd", "the Debian package etcd-server"),
            "--name=waqiti-dcs",
            f"--data-dir={self.dir / 'data'}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
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
