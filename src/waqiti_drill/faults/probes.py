"""chaostoolkit probes of the waqiti_drill extension, for steady-state hypotheses.

Each returns a plain value for a tolerance to judge (a bool, a count, a number of bytes or seconds),
and none raises for an unhealthy platform: a probe reports, the hypothesis decides.
"""

from __future__ import annotations

import time

import psycopg

from waqiti_drill.faults import health
from waqiti_drill.faults.context import Configuration, platform_of
from waqiti_drill.platform.redis_slots import TOTAL_SLOTS
from waqiti_drill.timefmt import parse_utc

__all__ = [
    "last_backup_age_seconds", "object_store_available", "platform_problems", "redis_all_slots_served",
    "redis_cluster_healthy", "replicas_streaming", "replication_lag_bytes", "writable_primary_exists",
]


def writable_primary_exists(configuration: Configuration = None) -> bool:
    """The read-write endpoint reaches a primary that accepts writes (not in recovery, not read-only)."""
    kwargs = platform_of(configuration).postgres_connect_kwargs(read_only=False)
    try:
        with psycopg.connect(**kwargs, autocommit=True, connect_timeout=3) as conn:  # type: ignore[arg-type]
            row = conn.execute("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')").fetchone()
    except psycopg.Error:
        return False
    return row is not None and row[0] is False and row[1] == "off"


def replicas_streaming(configuration: Configuration = None) -> int:
    """How many members stream from the primary now."""
    members = platform_of(configuration).postgres_members()
    return sum(1 for m in members if m.role in ("sync_standby", "replica") and m.state == "streaming")


def replication_lag_bytes(configuration: Configuration = None) -> int:
    """The largest replay lag of any replica, in bytes (a very large number if a replica cannot tell)."""
    members = platform_of(configuration).postgres_members()
    lags = [m.lag_bytes for m in members if m.role != "primary"]
    return max((2**62 if lag is None else lag for lag in lags), default=0)


def redis_cluster_healthy(configuration: Configuration = None) -> bool:
    """cluster_state ok, all 16384 slots served, 3 masters each with a connected replica."""
    return not [p for p in health.problems(platform_of(configuration)) if p.startswith("redis")]


def redis_all_slots_served(configuration: Configuration = None) -> bool:
    """cluster_state ok, all 16384 slots served by reachable masters (replicas not required: right
    after a failover)."""
    try:
        status = platform_of(configuration).redis_status()
    except Exception:  # noqa: BLE001 - not answering is simply not served
        return False
    # A killed master is only suspected (PFAIL) for up to cluster-node-timeout and still counts as
    # covering its slots; every serving master must also be reachable, i.e. its link connected.
    serving = [n for n in status.nodes if n.role == "master" and n.slots]
    return (status.cluster_state == "ok" and status.slots_covered == TOTAL_SLOTS
            and all(n.connected for n in serving))


def object_store_available(configuration: Configuration = None) -> bool:
    """The S3 endpoint answers (TLS, valid keys) and holds the backup bucket."""
    return platform_of(configuration).object_store_answers()


def last_backup_age_seconds(configuration: Configuration = None) -> float:
    """Seconds since the newest backup finished (infinite when there is none)."""
    backups = platform_of(configuration).list_backups()
    if not backups:
        return float("inf")
    return time.time() - max(parse_utc(b.stop) for b in backups)


def platform_problems(configuration: Configuration = None) -> list[str]:
    """Every deviation from a healthy platform, one line each (empty when healthy)."""
    return health.problems(platform_of(configuration))
