"""The local platform's Regions, RedisBackups and whole-cluster Redis primitives (mixed into LocalPlatform).

Mixed into LocalPlatform, which provides `settings`, `context()`, `_up_primary()` and `status()`.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

from waqiti_drill.config import Settings
from waqiti_drill.errors import InvalidConfig, Unsupported
from waqiti_drill.platform.base import (
    PlatformStatus,
    RedisBackupInfo,
    RegionMove,
    RegionStatus,
    ReplicationStatus,
)
from waqiti_drill.platform.local import regionloss
from waqiti_drill.platform.local.disks import MemberDisks
from waqiti_drill.platform.local.objectstore import ObjectStore
from waqiti_drill.platform.local.redis_backup import RedisBackupJob
from waqiti_drill.platform.local.redis_cluster import RedisCluster
from waqiti_drill.platform.local.region import backup_context, read_state
from waqiti_drill.platform.local.regionsync import RegionSync
from waqiti_drill.platform.local.replication import compare, wal_segments
from waqiti_drill.platform.local.statedir import state_lock
from waqiti_drill.timefmt import utc_iso
from waqiti_drill.waiting import wait_until

if TYPE_CHECKING:
    from waqiti_drill.platform.local.context import LocalContext


class LocalRegions:
    settings: Settings
    context: Callable[..., LocalContext]
    _up_primary: Callable[[], None]
    status: Callable[[], PlatformStatus]

    def _require_regions(self) -> None:
        if not self.settings.region.enabled:
            raise Unsupported("the backup region is switched off ([backup_region] enabled = false in the config file)")

    # ----- where the platform serves ---------------------------------------------------------------
    def serving_region(self) -> tuple[Settings, str]:
        """The settings and name of the region the global endpoint should point at."""
        region = self.settings.region
        if read_state(self.settings).active == region.backup:
            return backup_context(self.context()).settings, region.backup
        return self.settings, region.primary

    def region_status(self) -> RegionStatus:
        r, state = self.settings.region, read_state(self.settings)
        return RegionStatus(primary=r.primary, backup=r.backup, active=state.active, lost=state.lost,
                            lost_at=state.lost_at)

    # ----- replication -----------------------------------------------------------------------------
    def replication_status(self) -> ReplicationStatus:
        """Newest WAL segment in each region's bucket, and the sync's last run (the primary's store must answer)."""
        self._require_regions()
        ctx = self.context()
        backup = backup_context(ctx)
        stanza, bucket = self.settings.backup.stanza, self.settings.backup.bucket
        lag = compare(wal_segments(ObjectStore(ctx).client(fast_fail=True), bucket, stanza),
                      wal_segments(ObjectStore(backup).client(fast_fail=True), bucket, stanza))
        last = RegionSync(ctx, backup).last_run()
        r = self.settings.region
        return ReplicationStatus(
            method=r.replication, primary_region=r.primary, backup_region=r.backup,
            primary_newest_wal=lag.primary_newest, backup_newest_wal=lag.backup_newest,
            segments_behind=lag.segments_behind, lag_seconds=lag.lag_seconds,
            measured_at=utc_iso(lag.measured_at),
            primary_newest_wal_at=utc_iso(lag.primary_newest_at) if lag.primary_newest_at else None,
            last_sync_started=last.started if last else None, last_sync_finished=last.finished if last else None,
            last_sync_ok=last.ok if last else None, last_sync_error=last.error if last else None)

    def replicate_now(self, timeout: float = 300.0) -> ReplicationStatus:
        """One run of the scheduled sync, now (as if its schedule came round); then the measured lag."""
        self._require_regions()
        ctx = self.context()
        run = RegionSync(ctx, backup_context(ctx)).sync_now(timeout)
        if not run.ok:
            from waqiti_drill.errors import CommandFailed

            raise CommandFailed(f"the region sync's run {run.run} failed: {run.error}")
        return self.replication_status()

    # ----- Redis backups ----------------------------------------------------------------------------
    def _redis_job(self) -> RedisBackupJob:
        """The backup job of the region that serves, writing into that region's store."""
        ctx = self.context()
        if read_state(self.settings).active == self.settings.region.backup:
            backup = backup_context(ctx)
            return RedisBackupJob(backup, backup, self.settings.region.backup)
        return RedisBackupJob(ctx, ctx, self.settings.region.primary)

    def backup_redis(self) -> RedisBackupInfo:
        return self._redis_job().take()

    def list_redis_backups(self) -> list[RedisBackupInfo]:
        return self._redis_job().list()

    def list_redis_backups_in_backup_region(self) -> list[RedisBackupInfo]:
        self._require_regions()
        backup = backup_context(self.context())
        return RedisBackupJob(backup, backup, self.settings.region.backup).list()

    # ----- the whole Redis cluster crashed ------------------------------------------------------------
    def kill_redis_cluster(self) -> list[str]:
        """SIGKILL all six nodes in one sweep, as when every Redis pod goes at once."""
        redis = RedisCluster(self.context())
        sup = self.context().supervisor
        dirs = [redis.node_dir(a) for a in redis.addresses()]
        for d in dirs:
            sup.signal_under(d, signal.SIGKILL)

        def gone() -> tuple[bool, list[int]]:
            left = [pid for d in dirs for pid in sup.signal_under(d, signal.SIGKILL)]
            return not left, left

        wait_until(gone, 10.0, "every Redis node to exit after SIGKILL", interval=0.05)
        for a in redis.addresses():
            sup.pid_of(redis.process_name(a))  # reap
        return redis.addresses()

    def start_redis_cluster(self, timeout: float = 120.0) -> None:
        """Start every node from its own files (AOF + RDB, nodes.conf) and wait until the cluster is healthy."""
        redis = RedisCluster(self.context())
        redis.start()
        redis.wait_ready(timeout)

    # ----- region loss, failover, failback -------------------------------------------------------------
    def lose_primary_region(self) -> list[str]:
        self._require_regions()
        with state_lock(self.settings.state_dir, "losing the primary region"):
            return regionloss.lose_primary(self.context())

    def fail_over_region(self, timeout: float = 900.0) -> RegionMove:
        self._require_regions()
        with state_lock(self.settings.state_dir, "failing over to the backup region"):
            return regionloss.fail_over(self.context(), timeout)

    def fail_back_region(self, timeout: float = 900.0) -> RegionMove | None:
        self._require_regions()
        return regionloss.fail_back(self.context(), self._up_primary, timeout)

    def recover_region_on_up(self) -> PlatformStatus:
        """`up` (and so `drill heal`) after a region loss returns the normal shape: the failback, from a
        failed-over platform or from a loss that was never failed over. `up` means the spec's shape, and a
        drill killed at any point must come back to it; a drill only calls it when it heals."""
        state, r = read_state(self.settings), self.settings.region
        if state.lost != r.primary and state.active != r.backup:
            raise InvalidConfig(f"region state names {state.lost} as lost, which is not this stack's primary")
        self.fail_back_region(self.settings.targets.rto_seconds)
        return self.status()

    def region_problems(self) -> list[str]:
        """Not the normal shape: a region lost, or the platform serving from the backup region."""
        if not self.settings.region.enabled:
            return []
        state, r = read_state(self.settings), self.settings.region
        if state.active == r.backup:
            return [f"region: serving from the backup region {r.backup} since {state.failed_over_at} (the primary "
                    f"{r.primary} was lost at {state.lost_at}); 'drill heal' fails back"]
        if state.lost:
            return [f"region: {state.lost} was lost at {state.lost_at} and not failed over; 'drill heal' (or 'drill "
                    f"up') rebuilds it from {r.backup}'s copy of the backups"]
        return []

    def stop_backup_region(self) -> None:
        """Everything of the backup region stopped (`drill down`); nothing of its data removed."""
        if not (self.settings.state_dir / "regions").exists():
            return
        backup = backup_context(self.context())
        sup = backup.supervisor
        sup.stop(sup.names(), 8.0)  # SIGKILL after that is crash-safe for the store (see objectstore.py)
        sup.kill_everything_under(backup.state_dir)
        if backup.net.isolated:
            from waqiti_drill.platform.local.netns import StackNetwork

            StackNetwork(backup.net).remove()
        MemberDisks(backup.settings, backup.user).unmount_all()
