"""Fault kinds of the multi-region drills: the primary region lost, and the whole Redis cluster crashed.

Imported by faults/kinds.py, so they are registered with the built-in ones (see registry.py).
"""

from __future__ import annotations

from typing import Any

from waqiti_drill.faults.registry import FaultKind, register
from waqiti_drill.platform.base import Platform


def _primary_region(platform: Platform, _target: str | None) -> str:
    return platform.region_status().primary


def _lose_region(platform: Platform, target: str) -> dict[str, Any]:
    before = platform.replication_status()
    destroyed = platform.lose_primary_region()
    return {"destroyed": destroyed, "replication_before_loss": {
        "method": before.method, "primary_newest_wal": before.primary_newest_wal,
        "primary_newest_wal_at": before.primary_newest_wal_at,
        "backup_newest_wal": before.backup_newest_wal, "segments_behind": before.segments_behind,
        "lag_seconds": before.lag_seconds, "last_sync_finished": before.last_sync_finished}}


def _fail_back(platform: Platform, _target: str) -> None:
    platform.fail_back_region()


def _crash_redis(platform: Platform, _target: str) -> dict[str, Any]:
    return {"killed": platform.kill_redis_cluster()}


register(FaultKind("region_loss", _lose_region, _fail_back, 4, record_at="before", rpo_mode="restore",
                   resolve=_primary_region, default_target="primary-region",
                   describe="the whole primary region lost at once: every member and its disk, etcd, its object "
                            "store, its HAProxy, its Redis nodes and their files; undone by the failback"))
register(FaultKind("redis_cluster_crash", _crash_redis, lambda p, t: p.start_redis_cluster(), 3,
                   default_target="redis",
                   describe="all six Redis nodes SIGKILLed at once; undone by starting them from their AOF + RDB"))
