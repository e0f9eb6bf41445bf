"""HAProxy: the two stable endpoints that follow failover, like the spec's Kubernetes services.

`waqiti-postgres-primary` routes to whichever member Patroni's REST API calls primary,
`waqiti-postgres-replica` to the replicas. Clients always reach it on 127.0.0.1; the members behind it
sit at their own addresses (their namespaces' in `netns` mode). TCP passthrough: TLS is end to end
between the client and PostgreSQL, so the certificate the client verifies is the database's own.

The checks ask Patroni's REST API over TLS (`check-ssl`), verify its certificate against the stack's
CA and present the control plane's client certificate, which the REST API requires. The `ca-file`,
`crt` and `verify` settings apply to the checks only: the traffic itself is not `ssl`.
"""

from __future__ import annotations

from waqiti_drill.config import Settings
from waqiti_drill.platform.local.context import LocalContext, find_binary, require_ports_free
from waqiti_drill.platform.local.layout import MemberLocation, members
from waqiti_drill.platform.local.netplan import plan_network
from waqiti_drill.platform.local.runas import make_dir, write_file
from waqiti_drill.platform.local.supervisor import ProcessSpec
from waqiti_drill.platform.local.tls import tls_files

PROCESS = "haproxy"


def render_haproxy_cfg(settings: Settings, pg_members: list[MemberLocation]) -> str:
    """The HAProxy configuration: Patroni REST checks every second; dead members' sessions are cut."""
    host, ports = settings.host, settings.ports
    lines = [
        "global",
        "    maxconn 2000",
        "    log stdout format raw local0 notice",
        "    ssl-default-server-options ssl-min-ver TLSv1.2",
        "",
        "defaults",
        "    mode tcp",
        "    log global",
        "    timeout connect 3s",
        "    timeout client 30m",
        "    timeout server 30m",
        "    timeout check 2s",
        "",
    ]
    for name, port, check in (
        ("waqiti-postgres-primary", ports.haproxy_rw, "/primary"),
        ("waqiti-postgres-replica", ports.haproxy_ro, "/replica"),
    ):
        lines += [
            f"listen {name}",
            f"    bind {host}:{port}",
            "    balance roundrobin",
            f"    option httpchk GET {check}",
            "    http-check expect status 200",
            # A member is out after 3 failed checks (a dead one, refusing connections, in 1-3 s; a frozen one
            # in ~7 s) and back after one good check. A check's connect phase, which with check-ssl includes
            # the TLS handshake, is bounded by min(timeout connect, inter): with inter 1s a frozen member's
            # handshakes timed out after 1 s each and a 5 s freeze (shorter than any failover) had its
            # sessions cut at 4.8 s, measured; inter 2s keeps a freeze shorter than ~6 s from being cut.
            "    default-server inter 2s fastinter 500ms downinter 500ms fall 3 rise 1"
            f" on-marked-down shutdown-sessions {check_tls(settings)}",
        ]
        lines += [f"    server {m.name} {m.host}:{m.port} check port {m.rest_port}" for m in pg_members]
        lines.append("")
    lines += _object_store_passthrough(settings)
    lines += [
        "listen stats",
        "    mode http",
        f"    bind {host}:{ports.haproxy_stats}",
        "    stats enable",
        "    stats uri /",
        "    stats refresh 5s",
        "",
    ]
    return "\n".join(lines)


def check_tls(settings: Settings) -> str:
    """A server's options for health checks over mutual TLS to Patroni's REST API (pure)."""
    tls = tls_files(settings.state_dir)
    return f"check-ssl verify required ca-file {tls.ca_cert} crt {tls.client_pem}"


def _object_store_passthrough(settings: Settings) -> list[str]:
    """In `netns` mode the members' archive_command reaches S3 through the bridge address.

    The object store listens on loopback only (where the harness and its clients use it); this
    forwards the same port from the bridge address, TCP only, so TLS stays end to end and pgBackRest
    still verifies the store's certificate.
    """
    plan = plan_network(settings)
    if not plan.isolated:
        return []
    port = settings.ports.s3
    # The network policy of the host side: only the members may use the pass-through (anyone else on the
    # bridge is closed on at once, before a byte); see netpolicy.py for the members' own.
    only_members = "    tcp-request connection reject if !{ src " + " ".join(m.address for m in plan.members) + " }"
    lines = [
        "listen waqiti-s3-for-members",
        f"    bind {plan.host_address}:{port}",
        only_members,
        f"    server s3 {settings.host}:{port}",
        "",
    ]
    if settings.region.enabled and settings.region.replication == "repo2":  # pgBackRest's repo2: the backup region
        dr = settings.ports.dr_s3
        lines += ["listen waqiti-s3-backup-region-for-members", f"    bind {plan.host_address}:{dr}", only_members,
                  f"    server s3-{settings.region.backup} {settings.host}:{dr}", ""]
    return lines


class HAProxy:
    def __init__(self, ctx: LocalContext) -> None:
        self.ctx = ctx
        self.dir = ctx.state_dir / "haproxy"
        self.cfg = self.dir / "haproxy.cfg"

    def ports(self) -> dict[str, int]:
        p = self.ctx.settings.ports
        return {"haproxy_rw": p.haproxy_rw, "haproxy_ro": p.haproxy_ro, "haproxy_stats": p.haproxy_stats}

    def process_names(self) -> list[str]:
        return [PROCESS]

    def render(self) -> None:
        make_dir(self.ctx.user, self.dir)
        write_file(self.ctx.user, self.cfg, render_haproxy_cfg(self.ctx.settings, members(self.ctx.settings)))

    def start(self) -> None:
        sup = self.ctx.supervisor
        if sup.pid_of(PROCESS):
            return
        require_ports_free(self.ctx.host, self.ports(), "haproxy")
        binary = find_binary("haproxy", "the Debian package haproxy")
        sup.start(ProcessSpec(name=PROCESS, argv=[binary, "-db", "-f", str(self.cfg)], cwd=self.dir))
