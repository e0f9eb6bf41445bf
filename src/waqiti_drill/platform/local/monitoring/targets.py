"""What Prometheus scrapes, as pure data: one target per exporter, labelled with what it watches.

Jobs and labels are the contract between the scrape configuration, the alert rules and the drills:
`member` names a PostgreSQL member (pg1..pg3), `node` a Redis node (host:port), `spare="true"` marks
the two scale-out nodes, which are down in steady state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from waqiti_drill.config import PG_MEMBERS, Settings
from waqiti_drill.platform.local.disks import mount_point
from waqiti_drill.platform.local.layout import members

JOB_POSTGRES = "postgres"
JOB_REDIS = "redis"
JOB_NODE = "node"
JOB_PUSHGATEWAY = "pushgateway"
JOB_LOGWATCH = "logwatch"
JOB_PROMETHEUS = "prometheus"
JOB_ALERTMANAGER = "alertmanager"
JOB_WEBHOOK = "alert_webhook"


@dataclass(frozen=True)
class Target:
    job: str
    port: int  # on the stack's host (127.0.0.1)
    labels: dict[str, str] = field(default_factory=dict)

    def address(self, host: str) -> str:
        return f"{host}:{self.port}"


def redis_ports_watched(settings: Settings) -> list[tuple[int, bool]]:
    """(Redis port, is a spare) for each Redis exporter: the six nodes, then the two scale-out spares."""
    six = list(settings.ports.redis)
    spares = [max(six) + i for i in (1, 2)]  # as platform/local/redis_scale.py picks them
    watched = [(p, False) for p in six] + [(p, True) for p in spares]
    return watched[: len(settings.ports.redis_exporter)]


def scrape_targets(settings: Settings) -> list[Target]:
    """Every exporter and every monitoring server itself (a dead receiver must show as a dead target)."""
    p, host = settings.ports, settings.host
    out = [Target(JOB_POSTGRES, port, {"member": name}) for name, port in zip(PG_MEMBERS, p.postgres_exporter,
                                                                                strict=True)]
    for port, (redis_port, spare) in zip(p.redis_exporter, redis_ports_watched(settings), strict=True):
        labels = {"node": f"{host}:{redis_port}"}
        if spare:
            labels["spare"] = "true"
        out.append(Target(JOB_REDIS, port, labels))
    out += [
        Target(JOB_NODE, p.node_exporter),
        Target(JOB_PUSHGATEWAY, p.pushgateway),
        Target(JOB_LOGWATCH, p.logwatch),
        Target(JOB_PROMETHEUS, p.prometheus),
        Target(JOB_ALERTMANAGER, p.alertmanager),
        Target(JOB_WEBHOOK, p.alert_webhook),
    ]
    return out


def member_mount_points(settings: Settings) -> dict[str, Path]:
    """Where each member's own filesystem is mounted (as root; see platform/local/disks.py), resolved as the
    kernel lists it in /proc/mounts."""
    return {m.name: mount_point(m).resolve() for m in members(settings)}
