"""Multi-region steps: the backups replicated to the backup region, the primary region lost, the failover
that moves the clients, and the whole Redis cluster crashed. Judged by the clients' history."""

from __future__ import annotations

import time
from typing import Any, TypeVar

from pytest_bdd import given, parsers, then, when

from waqiti_drill.faults import actions
from waqiti_drill.faults.outcomes import BackupsReplicated, FailedOver, RedisBackupTaken, RedisRestarted, RegionLost
from waqiti_drill.results import RegionRecovery
from waqiti_drill.suite.drill import ScenarioDrill
from waqiti_drill.waiting import wait_until

from .common import bound_text, feature_bound, remember

T = TypeVar("T")


@given("a Redis backup is taken")
def redis_backup_taken(drill: ScenarioDrill) -> None:
    taken = RedisBackupTaken.of(actions.take_redis_backup(configuration=drill.configuration))
    drill.measurements.update(redis_backup=taken.label, redis_backup_keys=taken.keys)


@given("the backups are replicated to the backup region")
def backups_replicated(drill: ScenarioDrill) -> None:
    """Every write acknowledged so far archived, then one run of the scheduled sync (as if it came round)."""
    drill.platform.archive_wal()
    synced = BackupsReplicated.of(actions.replicate_backups_now(configuration=drill.configuration))
    drill.measurements.update(replication_method=synced.method, replication_lag_after_sync_seconds=synced.lag_seconds)


@when("the whole primary region is lost", target_fixture="fault")
def region_lost(drill: ScenarioDrill) -> dict[str, Any]:
    done = actions.region_loss(configuration=drill.configuration)
    lost = remember(drill, "region_loss", RegionLost.of(done))
    before = lost.replication
    if lost.archive_lag_seconds is not None:
        drill.measurements["archive_lag_seconds"] = lost.archive_lag_seconds
    drill.measurements.update(replication_lag_seconds=before.lag_seconds,
                              replication_segments_behind=before.segments_behind,
                              primary_newest_wal_at_loss=str(before.primary_newest_wal),
                              backup_newest_wal_at_loss=str(before.backup_newest_wal))
    return done


def _noted(drill: ScenarioDrill, key: str, kind: type[T], step: str) -> T:
    """What an earlier step of the scenario remembered, of the type it remembered; a clear failure when
    that step did not run (a feature that skips it), instead of a KeyError."""
    found = drill.notes.get(key)
    assert isinstance(found, kind), f"this step needs the step '{step}' to have run before it"
    return found


@then("nothing of the primary region is left")
def nothing_of_the_region(drill: ScenarioDrill) -> None:
    status = drill.platform.region_status()
    assert status.lost == status.primary, status
    destroyed = _noted(drill, "region_loss", RegionLost, "the whole primary region is lost").destroyed
    assert any("s3/data" in line for line in destroyed) and any("etcd/data" in line for line in destroyed), destroyed


@when(parsers.parse("the platform fails over to the backup region within {seconds:g} seconds"))
def failed_over(drill: ScenarioDrill, seconds: float) -> None:
    moved = FailedOver.of(actions.fail_over_to_backup_region(seconds, configuration=drill.configuration))
    drill.measurements.update(failover_seconds=moved.seconds, restored_postgres_set=moved.backup,
                              restored_redis_backup=str(moved.redis_backup),
                              redis_keys_restored=moved.redis_keys_restored)
    loss = _noted(drill, "region_loss", RegionLost, "the whole primary region is lost").at
    # The archive's part of the RPO: what the restored set and its WAL reach, against the loss instant.
    drill.measurements["postgres_set_stop_before_loss_seconds"] = moved.set_age_at(loss)
    redis_age = moved.redis_backup_age_at(loss)
    if redis_age is not None:
        drill.measurements["redis_backup_age_at_loss_seconds"] = redis_age
    remember(drill, "failover", moved)
    assert moved.seconds <= feature_bound(seconds), f"failed over in {moved.seconds}s, more than {bound_text(seconds)}"
    assert drill.platform.region_status().active == moved.to_region


@then(parsers.parse("every service's clients have {count:d} more acknowledged writes in the backup region"))
def clients_write_there(drill: ScenarioDrill, count: int) -> None:
    """Writes acknowledged after the failover, per service loaded, from the clients' history: the drill's
    RTO is the outage before these (the failback's planned pause comes later, in the heal)."""
    base = {name: c.acked for name, c in drill.live().services.items()}

    def grown() -> tuple[bool, dict[str, int]]:
        now = {name: c.acked - base.get(name, 0) for name, c in drill.live().services.items()}
        return all(v >= count for v in now.values()) and bool(now), now

    wait_until(grown, 300.0, f"{count} more acknowledged writes of every service after the failover", interval=0.5)


@then("the clients followed the global endpoint without a restart")
def clients_followed(drill: ScenarioDrill) -> None:
    assert drill.load is not None and drill.load.load is not None and drill.load.load.alive(), \
        "the load process is the one started before the loss"
    seeds = drill.platform.redis_seed_nodes()
    assert drill.load.targets is not None and drill.load.targets.redis_nodes == seeds, drill.load.targets


@then("the region loss's data lost is measured per service and its RPO decomposed")
def region_rpo(drill: ScenarioDrill) -> None:
    result = drill.require_check()
    assert result.mode == "restore", result.mode
    for name, service in result.services.items():
        drill.measurements[f"{name}_lost"] = service.lost
        drill.measurements[f"{name}_rpo_seconds"] = service.rpo_seconds
        drill.measurements[f"{name}_acknowledged"] = service.acked_writes
    pg, redis = result.services["postgres"], result.services.get("redis")
    lost = _noted(drill, "region_loss", RegionLost, "the whole primary region is lost")
    moved = _noted(drill, "failover", FailedOver, "the platform fails over to the backup region")
    before = lost.replication
    drill.region = RegionRecovery(
        lost_region=moved.from_region, recovered_in=moved.to_region, replication_method=before.method,
        postgres_restored_from=f"{moved.to_region} object store: pgBackRest set {moved.backup} + archived WAL",
        redis_restored_from=(f"{moved.to_region} object store: Redis backup {moved.redis_backup}"
                             if moved.redis_backup else "nothing: no complete Redis backup there"),
        replication_lag_seconds=float(before.lag_seconds), replication_segments_behind=int(before.segments_behind),
        archive_lag_seconds=lost.archive_lag_seconds, postgres_set_age_seconds=moved.set_age_at(lost.at),
        redis_backup_age_seconds=moved.redis_backup_age_at(lost.at) if moved.redis_backup else None,
        failover_seconds=float(moved.seconds), postgres_lost=pg.lost, postgres_rpo_seconds=pg.rpo_seconds,
        redis_lost=redis.lost if redis else None, redis_rpo_seconds=redis.rpo_seconds if redis else None)
    balance = pg.balance_total
    assert balance is not None and balance.value == balance.expected, f"balances not conserved: {balance}"


@when("the whole Redis cluster crashes", target_fixture="fault")
def redis_crashed(drill: ScenarioDrill) -> dict[str, Any]:
    return actions.redis_cluster_crash(configuration=drill.configuration)


@when(parsers.parse("the Redis cluster is restarted from its own files within {seconds:g} seconds"))
def redis_restarted(drill: ScenarioDrill, seconds: float) -> None:
    started = time.monotonic()
    restarted = RedisRestarted.of(actions.restart_redis_cluster(seconds, configuration=drill.configuration))
    drill.measurements["redis_restart_seconds"] = restarted.seconds
    wait_until(lambda: (drill.platform.redis_status().cluster_state == "ok", "not ok"), seconds, "cluster ok")
    assert time.monotonic() - started <= feature_bound(seconds) * 1.5


@then(parsers.parse("at most the acknowledged Redis writes of the last {seconds:g} seconds are lost"))
def redis_lost_bounded(drill: ScenarioDrill, seconds: float) -> None:
    """appendfsync everysec: a crash may lose about a second of writes; counted exactly from the history."""
    result = drill.require_check()
    redis = result.services["redis"]
    drill.measurements.update(redis_lost=redis.lost, redis_acknowledged=redis.acked_writes,
                              redis_rpo_seconds=redis.rpo_seconds)
    assert redis.acked_writes > 0, "no Redis write was acknowledged: nothing was tested"
    assert redis.rpo_seconds <= seconds, f"writes lost back to {redis.rpo_seconds:.2f}s before the crash"
