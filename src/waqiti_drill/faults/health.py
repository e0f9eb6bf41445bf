"""What "healthy" means before a drill may start and after a heal: the platform as the spec wants it.

PostgreSQL: exactly one running primary, the two other members streaming, one of them the synchronous
standby. Redis: cluster_state ok, all 16384 slots served, 3 masters each with a connected replica.
"""

from __future__ import annotations

from waqiti_drill.platform.base import Platform
from waqiti_drill.platform.redis_slots import TOTAL_SLOTS
from waqiti_drill.waiting import wait_until


def problems(platform: Platform) -> list[str]:
    """One line per deviation from a healthy platform; empty when healthy."""
    found: list[str] = []
    try:
        members = platform.postgres_members()
    except Exception as exc:  # noqa: BLE001 - any failure to read the cluster is a problem to report
        found.append(f"postgres: cannot read the cluster ({type(exc).__name__}: {exc})")
        members = []
    if members:
        primaries = [m for m in members if m.role == "primary" and m.state == "running"]
        streaming = [m for m in members if m.role in ("sync_standby", "replica") and m.state == "streaming"]
        if len(primaries) != 1:
            found.append(f"postgres: {len(primaries)} running primaries, expected 1")
        if len(streaming) != len(members) - 1:
            found.append(f"postgres: {len(streaming)} of {len(members) - 1} replicas streaming ("
                         + ", ".join(f"{m.name} {m.role} {m.state}" for m in members) + ")")
        if not any(m.role == "sync_standby" for m in streaming):
            found.append("postgres: no synchronous standby")
    try:
        redis = platform.redis_status()
    except Exception as exc:  # noqa: BLE001
        found.append(f"redis: cannot read the cluster ({type(exc).__name__}: {exc})")
        return found
    if redis.cluster_state != "ok" or redis.slots_covered != TOTAL_SLOTS:
        found.append(f"redis: cluster_state {redis.cluster_state}, {redis.slots_covered}/{TOTAL_SLOTS} slots")
    masters = [n for n in redis.nodes if n.role == "master" and n.slots and n.connected]
    if len(masters) != 3:
        found.append(f"redis: {len(masters)} serving masters, expected 3")
    for master in masters:
        if not any(n.master_id == master.node_id and n.connected for n in redis.nodes):
            found.append(f"redis: master {master.address} has no connected replica")
    return found


def wait_healthy(platform: Platform, timeout: float) -> None:
    def healthy() -> tuple[bool, str]:
        seen = problems(platform)
        return not seen, "; ".join(seen) or "healthy"

    wait_until(healthy, timeout, "the platform to be healthy (one primary, two streaming replicas, Redis ok)")
