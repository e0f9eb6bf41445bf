"""The loss of the primary region, the failover to the backup region, and the failback.

- **loss**: the region state says "lost" first (so whatever happens next, `drill up` and `drill heal`
  know), then every process of the primary region is killed in one sweep (members, etcd, object store,
  HAProxy, Redis nodes, the sync job) and its data destroyed (member disks, etcd's data, the store's
  volumes, the Redis nodes' AOF/RDB). The global endpoint keeps pointing at the dead region: clients see
  the outage. Secrets, certificates and the endpoint are global and stay.
- **failover** (the spec's Terraform + Route53 automation): PostgreSQL and Redis are built in the
  backup region from its own object store alone (regionsite.py), then the global endpoint is re-pointed.
- **failback**, from wherever things stand: if the backup region serves, its writes are stopped first
  (its HAProxy stopped, so no client session survives; Redis masters paused for writes), its last WAL
  archived and a Redis backup taken; then the primary's store is started empty, the backup region's
  bucket copied into it (one `aws s3 sync`, nothing writing meanwhile), the primary rebuilt from it and
  the endpoint re-pointed; the backup region's cluster is removed, its store stays (the pilot light).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from waqiti_drill.errors import InvalidConfig
from waqiti_drill.platform.base import RegionMove
from waqiti_drill.platform.local import siteloss
from waqiti_drill.platform.local.context import LocalContext
from waqiti_drill.platform.local.director import Director
from waqiti_drill.platform.local.endpoints import Endpoints
from waqiti_drill.platform.local.patroni import PatroniCluster, process_name
from waqiti_drill.platform.local.pgbackrest import BackupRepo
from waqiti_drill.platform.local.redis_backup import RedisBackupJob
from waqiti_drill.platform.local.redis_cluster import RedisCluster
from waqiti_drill.platform.local.region import RegionState, backup_context, read_state, write_state
from waqiti_drill.platform.local.regionsite import RegionSite
from waqiti_drill.platform.local.regionsync import RegionSync, copy_bucket_once
from waqiti_drill.timefmt import now_utc_iso as utc_now_iso

PAUSE_MS = 600_000  # Redis writes paused during the failback's snapshot (lifted when the nodes stop)


def lose_primary(primary: LocalContext) -> list[str]:
    settings = primary.settings
    state = read_state(settings)
    if state.lost:
        raise InvalidConfig(f"region {state.lost} is already lost (since {state.lost_at}); 'drill heal' fails back")
    if state.active != settings.region.primary:
        raise InvalidConfig(f"the platform runs in {state.active}, not in the primary region: nothing to lose there")
    at = utc_now_iso()
    write_state(settings, RegionState(active=state.active, lost=settings.region.primary, lost_at=at))
    siteloss.marker_path(settings).write_text(f'{{"destroyed_at": "{at}", "region_loss": true}}\n')
    site = RegionSite(primary, settings.region.primary)
    killed = site.kill_everything(with_store=True)
    return [f"killed {len(killed)} process(es) of {site.name} at once", *site.destroy_data(with_store=True)]


def fail_over(primary: LocalContext, timeout: float) -> RegionMove:
    settings, region = primary.settings, primary.settings.region
    state = read_state(settings)
    if state.lost != region.primary:
        raise InvalidConfig(f"region {region.primary} is not lost: a failover to {region.backup} is only done after it")
    if state.active == region.backup:
        raise InvalidConfig(f"the platform already runs in {region.backup} (since {state.failed_over_at})")
    started, t0 = utc_now_iso(), time.monotonic()
    backup = backup_context(primary)
    pg, redis, steps = RegionSite(backup, region.backup).build(timeout)
    Director(primary).point_at(backup.settings, region.backup)
    Endpoints(primary).wait_ready(60)
    steps.append(f"global endpoint re-pointed at {region.backup} (+{time.monotonic() - t0:.1f}s)")
    write_state(settings, RegionState(active=region.backup, lost=region.primary, lost_at=state.lost_at,
                                      failed_over_at=utc_now_iso()))
    return RegionMove(region.primary, region.backup, pg, redis, started, utc_now_iso(),
                      round(time.monotonic() - t0, 3), steps)


def fail_back(primary: LocalContext, start_primary: Callable[[], None], timeout: float) -> RegionMove | None:
    """`start_primary` is the platform's own `up` of the primary region (which rebuilds its PostgreSQL
    from its store while the site-loss marker is there, and starts the Redis nodes restored here)."""
    settings, region = primary.settings, primary.settings.region
    state = read_state(settings)
    if not state.lost and state.active == region.primary:
        return None
    started, t0 = utc_now_iso(), time.monotonic()
    backup = backup_context(primary)
    backup_site, primary_site = RegionSite(backup, region.backup), RegionSite(primary, region.primary)
    steps = _quiesce(primary, backup, region.backup, t0)
    backup_site.kill_everything(with_store=False)
    backup_site.start_store()
    primary_site.kill_everything(with_store=True)  # whatever a half-done earlier attempt left
    primary_site.destroy_data(with_store=True)
    siteloss.marker_path(settings).parent.mkdir(parents=True, exist_ok=True)
    siteloss.marker_path(settings).write_text(f'{{"destroyed_at": "{state.lost_at}", "region_loss": true}}\n')
    primary_site.start_store()
    sync = RegionSync(primary, backup)
    sync.render()
    copy_bucket_once(backup, "backup", primary, "primary", sync.dir / "failback", sync.aws_env(), timeout)
    steps.append(f"{region.backup}'s bucket copied into {region.primary}'s new store (+{time.monotonic() - t0:.1f}s)")
    redis = primary_site.restore_redis(timeout)
    chosen = BackupRepo(primary).list_backups()
    write_state(settings, RegionState(active=region.primary, lost=region.primary, lost_at=state.lost_at))
    start_primary()
    steps.append(f"{region.primary} rebuilt from its store and serving (+{time.monotonic() - t0:.1f}s)")
    steps += backup_site.remove_cluster()
    write_state(settings, RegionState(active=region.primary))
    from waqiti_drill.platform.base import RestoreInfo

    pg = RestoreInfo(target=f"cluster in {region.primary}", backup=chosen[-1], recovery_target="end of WAL",
                     started=started, finished=utc_now_iso(), seconds=round(time.monotonic() - t0, 3))
    return RegionMove(region.backup, region.primary, pg, redis, started, utc_now_iso(),
                      round(time.monotonic() - t0, 3), steps)


def _quiesce(primary: LocalContext, backup: LocalContext, name: str, t0: float) -> list[str]:
    """Stop every write to the backup region's cluster, if it runs, and save what it holds into its store.

    Clients reach PostgreSQL only through the global endpoint, which is made to point nowhere (its old
    sessions closed); its own HAProxy keeps running, as its members archive through it in netns mode."""
    steps: list[str] = []
    sup = backup.supervisor
    patroni = PatroniCluster(backup)
    running = [m for m in patroni.members if sup.pid_of(process_name(m))]
    Director(primary).quiesce()
    steps.append(f"global endpoint paused: no client reaches PostgreSQL (+{time.monotonic() - t0:.1f}s)")
    redis = RedisCluster(backup)
    masters = []
    try:
        masters = [n.address for n in redis.status().nodes if n.role == "master" and n.slots and n.connected]
    except Exception:  # noqa: BLE001 - no Redis answering: nothing to save
        masters = []
    if masters:
        for address in masters:
            redis.command(address, "CLIENT", "PAUSE", str(PAUSE_MS), "WRITE")
        saved = RedisBackupJob(backup, backup, name).take()
        steps.append(f"{name}: Redis writes paused, backup {saved.label} taken (+{time.monotonic() - t0:.1f}s)")
    if running:
        try:
            primary = patroni.primary()
        except OSError:
            primary = None
        if primary is not None:
            BackupRepo(backup).check(primary)  # the last WAL segment switched and archived
            steps.append(f"{name}: PostgreSQL's last WAL archived (+{time.monotonic() - t0:.1f}s)")
        sup.stop([process_name(m) for m in running], 30.0)
    return steps
