"""The global endpoint clients use: the embedded analogue of the spec's Route53 names.

Clients never address a region. The PostgreSQL DSN names `endpoint_rw` / `endpoint_ro`, and the Redis
Cluster client is seeded with `endpoint_redis` only (redis-ops keeps that seed: it never replaces it
with the nodes it discovered). This HAProxy forwards them to the active region: rw and ro to that
region's own HAProxy (which follows Patroni's primary), the Redis seed to the first of that region's
nodes that answers. The nodes' own addresses the client then discovers are the region's.

The failover automation re-points it by rewriting its configuration and reloading it (master-worker
mode, SIGUSR2: the pid the supervisor knows stays, and the new worker serves new connections at once).
`hard-stop-after` ends the old worker's sessions within seconds, so no client stays attached to the
region it was moved from; a client sees its connection fail and reconnects through the same name, as
a client whose DNS record changed does once its old connections break. The workload is never restarted.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from waqiti_drill.config import Settings
from waqiti_drill.platform.local.context import LocalContext, find_binary, require_ports_free
from waqiti_drill.platform.local.runas import make_dir, write_file
from waqiti_drill.platform.local.supervisor import ProcessSpec
from waqiti_drill.platform.local.tls import tls_files
from waqiti_drill.waiting import wait_until

PROCESS = "endpoint"
HARD_STOP_AFTER = "3s"


def render_director_cfg(settings: Settings, region: Settings | None, region_name: str) -> str:
    """HAProxy forwarding the global names to `region`'s HAProxy and Redis nodes (pure). With no region
    (a planned failback's write pause) the names accept connections and close them at once.

    The Redis seed is TCP passthrough (the client's TLS session ends at the node, whose certificate it
    verifies), and each node is checked with a TLS handshake verified against the stack's CA: a node
    that only accepts TCP (frozen, or not speaking TLS) is taken out of the seed."""
    host, p = settings.host, settings.ports
    lines = [
        f"# The global endpoint, pointing at region {region_name}; written by waqiti-drill (director.py)",
        "global",
        "    maxconn 4000",
        "    log stdout format raw local0 notice",
        f"    hard-stop-after {HARD_STOP_AFTER}",
        "",
        "defaults",
        "    mode tcp",
        "    log global",
        "    timeout connect 2s",
        "    timeout client 30m",
        "    timeout server 30m",
        "    timeout check 1s",
        "",
    ]
    for name, port, target in (("waqiti-postgres-rw", p.endpoint_rw, region and region.ports.haproxy_rw),
                               ("waqiti-postgres-ro", p.endpoint_ro, region and region.ports.haproxy_ro)):
        lines += [f"listen {name}", f"    bind {host}:{port}"]
        lines += [f"    server {region_name} {region.host}:{target}" if region else "    tcp-request connection reject"]
        lines.append("")
    lines += [
        "listen waqiti-redis-seed",
        f"    bind {host}:{p.endpoint_redis}",
        "    balance first",
        "    default-server check inter 1s fall 2 rise 1 check-ssl verify required "
        f"ca-file {tls_files(settings.state_dir).ca_cert}",
    ]
    if region is None:
        lines.append("    tcp-request connection reject")
    else:
        lines += [f"    server {region_name}-{port} {region.host}:{port}" for port in region.ports.redis]
    lines.append("")
    return "\n".join(lines)


class Director:
    def __init__(self, ctx: LocalContext) -> None:
        self.ctx = ctx
        self.dir = ctx.state_dir / "endpoint"
        self.cfg = self.dir / "haproxy.cfg"

    def ports(self) -> dict[str, int]:
        p = self.ctx.settings.ports
        return {"endpoint_rw": p.endpoint_rw, "endpoint_ro": p.endpoint_ro, "endpoint_redis": p.endpoint_redis}

    def process_names(self) -> list[str]:
        return [PROCESS]

    def pointing_at(self) -> str | None:
        """The region the configuration on disk names, None before the first render."""
        try:
            first = self.cfg.read_text().splitlines()[0]
        except (OSError, IndexError):
            return None
        return first.rsplit(" ", 3)[1] if "pointing at region" in first else None

    def render(self, region: Settings | None, region_name: str) -> bool:
        """Write the configuration for `region`; True when it changed."""
        make_dir(self.ctx.user, self.dir)
        text = render_director_cfg(self.ctx.settings, region, region_name)
        if self.cfg.exists() and self.cfg.read_text() == text:
            return False
        write_file(self.ctx.user, self.cfg, text, 0o644)
        return True

    def start(self) -> None:
        sup = self.ctx.supervisor
        if sup.pid_of(PROCESS):
            return
        require_ports_free(self.ctx.host, self.ports(), "the global endpoint (HAProxy)")
        binary = find_binary("haproxy", "the Debian package haproxy")
        sup.start(ProcessSpec(name=PROCESS, argv=[binary, "-W", "-db", "-f", str(self.cfg)], cwd=self.dir))

    def quiesce(self) -> None:
        """The names point nowhere: new connections are refused, and every session through the old
        configuration is closed (HAProxy's hard-stop-after) before this returns."""
        self.point_at(None, "none", drain=True)

    def point_at(self, region: Settings | None, region_name: str, drain: bool = False) -> None:
        """Re-point the names at `region` (render, then reload the running master); returns once a new
        worker serves (with `drain`, once the old workers and their sessions are gone). Started fresh
        when it is not running."""
        changed = self.render(region, region_name)
        master = self.ctx.supervisor.pid_of(PROCESS)
        if master is None:
            self.start()
            return
        if not changed:
            return
        before = _children(master)
        os.kill(master, signal.SIGUSR2)

        def reloaded() -> tuple[bool, str]:
            now = _children(master)
            return bool(now - before), f"workers {sorted(now)} (before {sorted(before)})"

        wait_until(reloaded, 15.0, f"the global endpoint to reload pointing at {region_name}", interval=0.05)
        if drain:
            wait_until(lambda: (not (_children(master) & before), sorted(_children(master) & before)), 30.0,
                       "the global endpoint's old workers to close their sessions", interval=0.1)


def _children(pid: int) -> set[int]:
    """Child pids of `pid` (its HAProxy workers), from /proc."""
    out = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields and int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            out.add(int(entry.name))
    return out
