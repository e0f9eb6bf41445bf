"""One region's parts, started and stopped as a unit: the building block of failover and failback.

A region's PostgreSQL cluster is always (re)built here from that region's own object store: Patroni's
custom bootstrap restores the newest set and replays every archived WAL segment (siteloss.py), so the
rebuilt cluster holds exactly what that copy of the repository holds. Redis is rebuilt from the newest
complete Redis backup in the same store (redis_backup.py). Both regions use this, with the context of
the region being built.
"""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

from waqiti_drill.errors import DrillError
from waqiti_drill.platform.base import RedisRestoreInfo, RestoreInfo
from waqiti_drill.platform.local import siteloss
from waqiti_drill.platform.local.context import LocalContext
from waqiti_drill.platform.local.disks import MemberDisks
from waqiti_drill.platform.local.etcd import Etcd
from waqiti_drill.platform.local.haproxy import HAProxy
from waqiti_drill.platform.local.layout import members
from waqiti_drill.platform.local.netns import StackNetwork, check_network_tools
from waqiti_drill.platform.local.objectstore import ObjectStore
from waqiti_drill.platform.local.patroni import PatroniCluster
from waqiti_drill.platform.local.pgbackrest import BackupRepo, write_pgpass
from waqiti_drill.platform.local.pgroles import ensure_app_role_and_database
from waqiti_drill.platform.local.redis_backup import RedisBackupJob, restore_cluster
from waqiti_drill.platform.local.redis_cluster import RedisCluster
from waqiti_drill.platform.local.restore import choose_set
from waqiti_drill.platform.local.statedir import ensure_state_dir
from waqiti_drill.timefmt import now_utc_iso as utc_now_iso
from waqiti_drill.waiting import wait_until


class RegionSite:
    """The parts of one region (`ctx`'s), named `name` in what it reports."""

    def __init__(self, ctx: LocalContext, name: str) -> None:
        self.ctx, self.name = ctx, name

    # ----- the whole region gone at once ---------------------------------------------------------
    def part_dirs(self) -> list[Path]:
        """Working directories of every process of the region but its object store, the store's last."""
        redis = RedisCluster(self.ctx)
        return [*(m.base for m in members(self.ctx.settings)), Etcd(self.ctx).dir, HAProxy(self.ctx).dir,
                *(redis.node_dir(a) for a in redis.addresses()), self.ctx.state_dir / "regionsync",
                ObjectStore(self.ctx).dir]

    def kill_everything(self, with_store: bool) -> list[int]:
        """SIGKILL every process of the region in one sweep (one /proc scan, then one signal each), so
        no part sees another go first; returns once none is left."""
        dirs = [str(d.resolve()) for d in self.part_dirs()]
        if not with_store:
            dirs = dirs[:-1]
        sup = self.ctx.supervisor

        def sweep() -> list[int]:
            pids = [pid for pid in sup.pids_under(self.ctx.state_dir) if _cwd_in(pid, dirs)]
            for pid in pids:
                _kill(pid)
            return pids

        killed = sweep()
        wait_until(lambda: (not (left := sweep()), left), 15.0, f"every process of region {self.name} to exit",
                   interval=0.05)
        for name in sup.names():
            sup.pid_of(name)  # reaps our own children
        return killed

    def destroy_data(self, with_store: bool) -> list[str]:
        """Every member's disk, etcd's data, the Redis nodes' files, the sync job's staging, the store."""
        done = []
        located = members(self.ctx.settings)
        done += MemberDisks(self.ctx.settings, self.ctx.user).destroy()  # as root: members' and Redis's images, keys
        for path in [*(m.base for m in located), *self.part_dirs()[len(located) + 2:-1], Etcd(self.ctx).dir / "data",
                     *([ObjectStore(self.ctx).dir / "data"] if with_store else [])]:
            if path.exists():
                shutil.rmtree(path, ignore_errors=True)
                done.append(f"removed {path.relative_to(self.ctx.state_dir)}")
        return done

    # ----- built from its own object store -----------------------------------------------------
    def start_store(self) -> None:
        store = ObjectStore(self.ctx)
        store.start()
        store.wait_ready(60)

    def build(self, timeout: float) -> tuple[RestoreInfo, RedisRestoreInfo | None, list[str]]:
        """PostgreSQL and Redis of this region rebuilt from its own object store; returns once healthy."""
        ctx, steps, t0 = self.ctx, [], time.monotonic()
        ensure_state_dir(ctx.settings)
        siteloss.marker_path(ctx.settings).parent.mkdir(parents=True, exist_ok=True)
        if not siteloss.is_lost(ctx.settings):
            siteloss.marker_path(ctx.settings).write_text(f'{{"destroyed_at": "{utc_now_iso()}"}}\n')
        self.start_store()
        if ctx.net.isolated:
            check_network_tools()
            StackNetwork(ctx.net).ensure()
        MemberDisks(ctx.settings, ctx.user).ensure()
        repo, patroni = BackupRepo(ctx), PatroniCluster(ctx)
        write_pgpass(ctx)
        repo.render(patroni.members)
        chosen = choose_set(repo.list_backups(), None)
        started = utc_now_iso()
        patroni.render(repo.archive_command, siteloss.bootstrap_commands(ctx, repo))
        HAProxy(ctx).render()
        etcd = Etcd(ctx)
        etcd.start()
        HAProxy(ctx).start()
        etcd.wait_ready(30)
        patroni.start()
        steps.append(f"{self.name}: PostgreSQL restoring set {chosen.label} from its own store "
                     f"(+{time.monotonic() - t0:.1f}s)")
        redis = self.restore_redis(timeout)
        steps.append(f"{self.name}: Redis " + (f"rebuilt from backup {redis.backup.label}, {redis.keys_restored} keys"
                                              if redis else "started empty: no complete Redis backup in its store")
                     + f" (+{time.monotonic() - t0:.1f}s)")
        patroni.wait_healthy(timeout)
        primary = patroni.primary()
        ensure_app_role_and_database(ctx, primary)
        repo.stanza_create(primary)
        repo.check(primary)
        siteloss.clear(ctx.settings)
        steps.append(f"{self.name}: PostgreSQL healthy, archiving into its own store (+{time.monotonic() - t0:.1f}s)")
        pg = RestoreInfo(target=f"cluster in {self.name}", backup=chosen, recovery_target="end of WAL",
                         started=started, finished=utc_now_iso(), seconds=round(time.monotonic() - t0, 3))
        return pg, redis, steps

    def restore_redis(self, timeout: float) -> RedisRestoreInfo | None:
        # Redis's encrypted volume first (a failback restores Redis before the region's `up` mounts it)
        MemberDisks(self.ctx.settings, self.ctx.user).ensure()
        job = RedisBackupJob(self.ctx, self.ctx, self.name)
        newest = job.newest_complete()
        if newest is None:
            redis = RedisCluster(self.ctx)
            redis.render()
            redis.start()
            redis.wait_ready(timeout)
            return None
        return restore_cluster(self.ctx, job, newest, timeout)

    # ----- back to the pilot light --------------------------------------------------------------
    def remove_cluster(self) -> list[str]:
        """Stop and remove everything of the region but its object store (idempotent)."""
        done = [f"stopped {len(self.kill_everything(with_store=False))} process(es) of {self.name}"]
        done += self.destroy_data(with_store=False)
        siteloss.clear(self.ctx.settings)
        if self.ctx.net.isolated:
            try:
                done += StackNetwork(self.ctx.net).remove()
            except DrillError as exc:
                done.append(f"network of {self.name} not removed: {exc}")
        return done


def _cwd_in(pid: int, dirs: list[str]) -> bool:
    import os

    try:
        cwd = os.readlink(f"/proc/{pid}/cwd").removesuffix(" (deleted)")
    except OSError:
        return False
    return any(cwd == d or cwd.startswith(d + "/") for d in dirs)


def _kill(pid: int) -> None:
    import contextlib
    import os

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
