"""An in-process stand-in for a platform, for calling the real chaostoolkit actions without a stack.

It answers the queries the fault kinds ask before and while they act (members and their roles, the Redis
cluster, the regions, the replication lag, a failover's outcome) with a small healthy three-member,
three-shard stack, and records every other primitive called (kill_member, lose_primary_region, ...) as a
no-op. `adopted` makes it the platform every action of a scratch stack acts on (faults/context.py), with
that stack's run directory at `run_dir`, so the fault records land in `run_dir/history/faults.jsonl`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from waqiti_drill.config import Settings
from waqiti_drill.faults import context
from waqiti_drill.platform.base import (
    BackupInfo,
    PgMember,
    RedisBackupInfo,
    RedisNode,
    RedisRestoreInfo,
    RedisShardBackup,
    RedisStatus,
    RegionMove,
    RegionStatus,
    ReplicationStatus,
    RestoreInfo,
)
from waqiti_drill.platform.redis_slots import TOTAL_SLOTS

HOST = "127.0.0.1"
SHARD = TOTAL_SLOTS // 3


class FakePlatform:
    name = "fake"

    def __init__(self) -> None:
        self.calls: list[str] = []  # every primitive called that is not a query, by name
        self.active = "us-west-2"  # the region serving: the backup one after fail_over_region

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - any other primitive: recorded, does nothing
        if name.startswith("_"):
            raise AttributeError(name)

        def primitive(*_args: object, **_kwargs: object) -> None:
            self.calls.append(name)

        return primitive

    # ----- queries the fault kinds ask ---------------------------------------------------------------
    def postgres_members(self) -> list[PgMember]:
        return [PgMember("pg1", "primary", "running", 1, 0, HOST, 1), PgMember("pg2", "sync_standby", "streaming", 1,
                                                                                0, HOST, 2),
                PgMember("pg3", "replica", "streaming", 1, 0, HOST, 3)]

    def redis_status(self) -> RedisStatus:
        ranges = [[0, SHARD - 1], [SHARD, 2 * SHARD - 1], [2 * SHARD, TOTAL_SLOTS - 1]]
        masters = [RedisNode(f"{HOST}:2550{i}", f"m{i}", "master", None, [r], True) for i, r in enumerate(ranges, 1)]
        replicas = [RedisNode(f"{HOST}:2551{i}", f"r{i}", "replica", f"m{i}", [], True) for i in (1, 2, 3)]
        return RedisStatus(masters + replicas, "ok", TOTAL_SLOTS)

    def region_status(self) -> RegionStatus:
        return RegionStatus(primary="us-west-2", backup="us-east-1", active=self.active, lost=None, lost_at=None)

    def replication_status(self) -> ReplicationStatus:
        return ReplicationStatus(method="sync", primary_region="us-west-2", backup_region="us-east-1",
                                 primary_newest_wal="000000010000000000000007",
                                 backup_newest_wal="000000010000000000000006",
                                 segments_behind=1, lag_seconds=12.5, measured_at="2025-12-01T08:00:00.000Z",
                                 primary_newest_wal_at="2025-12-01T07:59:50.000Z")

    def replicate_now(self, timeout: float = 300.0) -> ReplicationStatus:
        self.calls.append("replicate_now")
        return self.replication_status()

    def backup_redis(self) -> RedisBackupInfo:
        self.calls.append("backup_redis")
        return _redis_backup()

    def fail_over_region(self, timeout: float = 900.0) -> RegionMove:
        self.calls.append("fail_over_region")
        self.active = "us-east-1"
        backup = BackupInfo("full", "20251201-075000F", "2025-12-01T07:50:00Z", "2025-12-01T07:50:04Z",
                            "000000010000000000000003", "000000010000000000000004", 1 << 20, 1 << 18, None)
        pg = RestoreInfo("cluster in us-east-1", backup, "end of WAL", "2025-12-01T08:01:00.000Z",
                         "2025-12-01T08:03:00.000Z", 120.0)
        return RegionMove("us-west-2", "us-east-1", pg, RedisRestoreInfo(_redis_backup(), 42, 3.0),
                          "2025-12-01T08:01:00.000Z", "2025-12-01T08:03:30.000Z", 150.0, ["rebuilt"])


def _redis_backup() -> RedisBackupInfo:
    shard = RedisShardBackup(f"{HOST}:25501", "m1", [[0, SHARD - 1]], 42, "redis/L1/m1.rdb.enc", 100, "ab" * 32)
    return RedisBackupInfo("20251201T075500Z-000R", "2025-12-01T07:55:00.000Z", "2025-12-01T07:55:01.000Z",
                           "us-west-2", "AES-256-GCM", [shard], True)


def adopted(tmp_path: Path, run_dir: Path) -> tuple[FakePlatform, dict[str, Any]]:
    """A fake platform adopted for a scratch stack under tmp_path, and the actions' configuration for it."""
    settings = Settings(state_dir=tmp_path / "state")
    settings.state_dir.mkdir(exist_ok=True)
    platform = FakePlatform()
    context.adopt(settings, None, platform)  # type: ignore[arg-type]
    return platform, context.configuration_for(settings, None, run_dir)
