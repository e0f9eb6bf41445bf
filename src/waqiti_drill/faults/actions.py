"""chaostoolkit actions of the waqiti_drill extension: thin adapters over the fault registry.

Each fault action names its kind (faults/kinds.py) and what to hit; the engine resolves the target at
the moment it runs ("primary" is whoever is primary then), writes the ledger before injecting, records
the instant the fault took effect into the run's history, and returns what it did (kept in the
chaostoolkit journal). Timed faults (freeze for N seconds) undo themselves; the rest are undone by `heal`,
the rollback of every experiment, which undoes whatever the ledger holds.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from waqiti_drill.errors import InvalidConfig
from waqiti_drill.faults import health
from waqiti_drill.faults.context import Configuration, engine, run_dir_of
from waqiti_drill.faults.kinds import resolve_member
from waqiti_drill.platform.redis_slots import TOTAL_SLOTS, plan_move, slot_counts
from waqiti_drill.waiting import wait_until

__all__ = [
    "add_redis_master", "backup_must_fail", "destroy_postgres_cluster", "fail_over_to_backup_region",
    "failed_logins", "fill_disk", "fill_disk_to", "freeze_dcs", "freeze_member", "hold_connections",
    "redis_cluster_crash", "region_loss", "replicate_backups_now", "restart_redis_cluster", "stall_replay",
    "take_redis_backup",
    "freeze_redis_node", "heal", "isolate_dcs", "isolate_member", "kill_dcs", "kill_member", "kill_redis_master",
    "move_redis_slots", "observe", "rebalance_redis", "recover_postgres_from_repository", "resolve_member",
    "start_object_store", "stop_member", "stop_object_store", "switchover", "take_backup", "wait_until_healthy",
    "wait_until_redis_serves_all_slots", "wait_until_writable",
]


def _inject(configuration: Configuration, kind: str, target: str | None = None, **params: Any) -> dict[str, Any]:
    return engine(configuration).inject(kind, target, run_dir_of(configuration), **params)


def kill_member(member: str = "primary", configuration: Configuration = None) -> dict[str, Any]:
    """SIGKILL Patroni and the member's whole postgres process tree at once, like a pod kill."""
    return _inject(configuration, "kill_member", member)


def stop_member(member: str = "sync_standby", configuration: Configuration = None) -> dict[str, Any]:
    """Stop the member gracefully (Patroni shuts PostgreSQL down cleanly)."""
    return _inject(configuration, "stop_member", member)


def freeze_member(member: str = "primary", seconds: float = 5.0, configuration: Configuration = None) -> dict[str, Any]:
    """SIGSTOP every process of the member for `seconds`, then SIGCONT (also if interrupted)."""
    return _inject(configuration, "freeze_member", member, seconds=seconds)


def isolate_member(member: str = "primary", configuration: Configuration = None) -> dict[str, Any]:
    """Cut the member off the network (a real partition); its processes keep running."""
    return _inject(configuration, "isolate_member", member)


def fill_disk(member: str = "primary", configuration: Configuration = None) -> dict[str, Any]:
    """Fill the filesystem holding the member's PGDATA and pg_wal (its own bounded one) to the last block.

    Returns once the filesystem is full; `heal` (or free_disk) removes the filler. PostgreSQL then fails
    to extend files, as on a real full volume.
    """
    return _inject(configuration, "fill_disk", member)


def fill_disk_to(member: str = "replica", percent: float = 90.0, configuration: Configuration = None) -> dict[str, Any]:
    """Fill the member's own filesystem until `percent` of it is in use (past the disk alert's 85 %); heal frees it."""
    return _inject(configuration, "fill_disk_to", member, percent=percent)


def stall_replay(member: str = "replica", configuration: Configuration = None) -> dict[str, Any]:
    """Stop a replica's WAL replay while WAL keeps arriving: its lag grows with every write; heal resumes it."""
    return _inject(configuration, "stall_replay", member)


def hold_connections(member: str = "primary", fraction: float = 0.95,
                     configuration: Configuration = None) -> dict[str, Any]:
    """Hold client connections open until `fraction` of those open to non-superusers are in use; heal ends them."""
    return _inject(configuration, "hold_connections", member, fraction=fraction)


def failed_logins(member: str = "primary", count: int = 8, configuration: Configuration = None) -> dict[str, Any]:
    """`count` logins with a wrong password, each refused by the member (a security event; nothing to undo)."""
    return _inject(configuration, "failed_logins", member, count=count)


def switchover(candidate: str | None = None, configuration: Configuration = None) -> dict[str, Any]:
    """Planned switchover to `candidate` (a member name or sync_standby), or to Patroni's choice."""
    platform = engine(configuration).platform
    chosen = None if candidate in (None, "") else resolve_member(platform, candidate)
    return _inject(configuration, "switchover", "primary", candidate=chosen)


def kill_dcs(configuration: Configuration = None) -> dict[str, Any]:
    """SIGKILL the etcd DCS: Patroni can no longer renew the leader key."""
    return _inject(configuration, "kill_dcs")


def freeze_dcs(seconds: float = 5.0, configuration: Configuration = None) -> dict[str, Any]:
    """SIGSTOP the etcd DCS for `seconds` (a hung DCS host), then SIGCONT (also if interrupted)."""
    return _inject(configuration, "freeze_dcs", seconds=seconds)


def isolate_dcs(configuration: Configuration = None) -> dict[str, Any]:
    """Partition the etcd DCS from every member; etcd keeps running."""
    return _inject(configuration, "isolate_dcs")


def kill_redis_master(address: str | None = None, configuration: Configuration = None) -> dict[str, Any]:
    """SIGKILL a Redis master (the first by address unless named); its replica should take over."""
    return _inject(configuration, "kill_redis_master", address)


def freeze_redis_node(address: str | None = None, seconds: float = 5.0,
                      configuration: Configuration = None) -> dict[str, Any]:
    """SIGSTOP a Redis node (the first master unless named) for `seconds`, then SIGCONT."""
    return _inject(configuration, "freeze_redis_node", address, seconds=seconds)


def move_redis_slots(count: int = 1000, source: str | None = None, target: str | None = None,
                     configuration: Configuration = None) -> dict[str, Any]:
    """Reshard under load: migrate `count` slots with their keys from master `source` (default: the
    one serving the most slots) to master `target` (default: the one serving the fewest).

    The fault record's inject is the moment the migration starts, its heal the moment every node agrees on
    the new owners. Nothing goes into the ledger: moved slots are not broken (`rebalance_redis` evens them).
    """
    move = plan_move(engine(configuration).platform.redis_status(), source, target, count)  # refused before anything
    return _inject(configuration, "move_redis_slots", move.source.address, to=move.target.address, count=int(count))


def add_redis_master(configuration: Configuration = None) -> dict[str, Any]:
    """Scale out under load: a new master (and its replica) joins and the slots are rebalanced onto it.
    The heal moves the slots back and removes both nodes."""
    return _inject(configuration, "add_redis_master")


def rebalance_redis(configuration: Configuration = None) -> dict[str, Any]:
    """Even the Redis slots out over the masters again (after a reshard); hygiene, not a heal."""
    platform = engine(configuration).platform
    started = time.monotonic()
    platform.rebalance_redis_slots()
    return {"seconds": round(time.monotonic() - started, 3), "slots": slot_counts(platform.redis_status())}


def stop_object_store(configuration: Configuration = None) -> dict[str, Any]:
    """Make the S3 object store unavailable (its process stopped); `start_object_store` or heal undoes it."""
    return _inject(configuration, "stop_object_store")


def start_object_store(configuration: Configuration = None) -> dict[str, Any]:
    faults = engine(configuration)
    faults.platform.start_object_store()
    ended = faults.settle("stop_object_store", run_dir_of(configuration))
    return {"healed": "stop_object_store", "ledger_entries_ended": len(ended)}


def destroy_postgres_cluster(configuration: Configuration = None) -> dict[str, Any]:
    """Site loss: every PostgreSQL member killed at once, its disk destroyed and the cluster's DCS state
    deleted; only the object store's repository is left. `recover_postgres_from_repository` (or heal)
    rebuilds it. The fault instant is taken just before the kill, so the RTO measured from it can only
    be longer than the outage clients saw, never shorter. RPO is measured in restore mode."""
    return _inject(configuration, "destroy_postgres_cluster")


def recover_postgres_from_repository(timeout: float = 900.0, configuration: Configuration = None) -> dict[str, Any]:
    """Rebuild the lost cluster from the repository alone: the newest backup set, then every archived
    WAL segment, then promotion; the other members clone the new primary."""
    faults = engine(configuration)
    info = faults.platform.recover_postgres(float(timeout))
    faults.settle("destroy_postgres_cluster", run_dir_of(configuration), backup=info.backup.label)
    return {"backup": info.backup.label, "backup_type": info.backup.type, "wal_start": info.backup.wal_start,
            "wal_stop": info.backup.wal_stop, "backup_stop": info.backup.stop, "started": info.started,
            "seconds": info.seconds}


def take_backup(kind: str = "full", timeout: float = 600.0, configuration: Configuration = None) -> dict[str, Any]:
    """Take a backup now (full, incr or diff) from the current primary; the set goes into the journal."""
    if kind not in ("full", "incr", "diff"):
        raise InvalidConfig(f"backup kind must be full, incr or diff, got {kind!r}")
    return dataclasses.asdict(engine(configuration).platform.backup(kind, float(timeout)))  # type: ignore[arg-type]


def backup_must_fail(kind: str = "incr", timeout: float = 60.0, configuration: Configuration = None) -> dict[str, Any]:
    """Attempt a backup that is expected to fail (the object store is down): it must fail loudly.

    pgBackRest retries an unreachable store for many minutes, so the attempt is bounded by `timeout`
    (a backup that cannot finish in it has failed). A backup that succeeds raises, so the activity
    (and the drill) fails: the outage was not real.
    """
    from chaoslib.exceptions import ActivityFailed

    from waqiti_drill.errors import DrillError

    started = time.monotonic()
    try:
        info = engine(configuration).platform.backup(kind, float(timeout))  # type: ignore[arg-type]
    except DrillError as exc:
        return {"failed": True, "seconds": round(time.monotonic() - started, 3), "error": str(exc)}
    raise ActivityFailed(f"a {kind} backup succeeded ({info.label}) while the object store should be down")


def _wait(what: str, probe: Any, timeout: float) -> dict[str, Any]:  # noqa: ANN401
    started = time.monotonic()
    wait_until(lambda: (bool(probe()), "not yet"), float(timeout), what, interval=0.2)
    return {"waited_seconds": round(time.monotonic() - started, 3)}


def wait_until_writable(timeout: float = 120.0, configuration: Configuration = None) -> dict[str, Any]:
    """Wait until the read-write endpoint reaches a writable primary again."""
    from waqiti_drill.faults.probes import writable_primary_exists

    return _wait("a writable primary behind the read-write endpoint", lambda: writable_primary_exists(configuration),
                 timeout)


def wait_until_redis_serves_all_slots(timeout: float = 120.0, configuration: Configuration = None) -> dict[str, Any]:
    """Wait until the Redis Cluster is ok with all 16384 slots served (a replica promoted, if need be)."""
    from waqiti_drill.faults.probes import redis_all_slots_served

    return _wait(f"the Redis Cluster to serve all {TOTAL_SLOTS} slots", lambda: redis_all_slots_served(configuration),
                 timeout)


def wait_until_healthy(timeout: float = 300.0, configuration: Configuration = None) -> dict[str, Any]:
    """Wait until the whole platform is healthy (one primary, two streaming replicas, Redis ok)."""
    started = time.monotonic()
    health.wait_healthy(engine(configuration).platform, float(timeout))
    return {"waited_seconds": round(time.monotonic() - started, 3)}


def observe(seconds: float = 30.0) -> dict[str, Any]:
    """Let a fault stand for `seconds` (the load keeps running and recording what clients see)."""
    time.sleep(float(seconds))
    return {"observed_seconds": float(seconds)}


def heal(timeout: float = 300.0, configuration: Configuration = None) -> dict[str, Any]:
    """The rollback of every experiment: undo whatever the ledger holds, then wait until healthy.

    Only the drill holding the drill lock heals: one refused because another drill runs leaves that
    drill's faults alone. Run without the safety control (a bare `chaos run` of a file without it),
    it takes the lock itself for the duration of the heal.
    """
    faults = engine(configuration)
    if faults.safety.refused:
        return {"skipped": "this drill was refused at start; the platform was not touched"}
    if faults.safety.holds_lock():
        return _heal(timeout, configuration)
    with faults.safety.lock.held():
        return _heal(timeout, configuration)


def _heal(timeout: float, configuration: Configuration) -> dict[str, Any]:
    faults = engine(configuration)
    undone = faults.heal(float(timeout), run_dir_of(configuration))
    return {"undone": undone, "healthy": health.problems(faults.platform) == []}


def region_loss(configuration: Configuration = None) -> dict[str, Any]:
    """Region loss: everything of the primary region gone at once (members and disks, etcd, its object
    store, its HAProxy, its Redis nodes and files, the sync job). The replication lag just before is in the
    record. `fail_over_to_backup_region` moves the platform; heal (the failback) brings it home. RPO is
    measured in restore mode."""
    return _inject(configuration, "region_loss")


def fail_over_to_backup_region(timeout: float = 900.0, configuration: Configuration = None) -> dict[str, Any]:
    """The failover automation: PostgreSQL and Redis rebuilt in the backup region from its copy of the
    backups alone, then the global endpoint re-pointed (the clients follow without a restart)."""
    move = engine(configuration).platform.fail_over_region(float(timeout))
    return {"from": move.from_region, "to": move.to_region, "backup": move.postgres.backup.label,
            "backup_stop": move.postgres.backup.stop, "wal_stop": move.postgres.backup.wal_stop,
            "redis_backup": move.redis.backup.label if move.redis else None,
            "redis_backup_start": move.redis.backup.start if move.redis else None,
            "redis_keys_restored": move.redis.keys_restored if move.redis else 0,
            "seconds": move.seconds, "steps": move.steps}


def redis_cluster_crash(configuration: Configuration = None) -> dict[str, Any]:
    """All six Redis nodes SIGKILLed at once; `restart_redis_cluster` (or heal) starts them from their
    own AOF + RDB."""
    return _inject(configuration, "redis_cluster_crash")


def restart_redis_cluster(timeout: float = 120.0, configuration: Configuration = None) -> dict[str, Any]:
    """Start every Redis node from its own files and wait until the cluster has re-formed by itself."""
    faults = engine(configuration)
    started = time.monotonic()
    faults.platform.start_redis_cluster(float(timeout))
    faults.settle("redis_cluster_crash", run_dir_of(configuration))
    return {"seconds": round(time.monotonic() - started, 3)}


def take_redis_backup(configuration: Configuration = None) -> dict[str, Any]:
    """The spec's Redis backup job now: an encrypted RDB of every master in the object store."""
    info = engine(configuration).platform.backup_redis()
    return {"label": info.label, "start": info.start, "stop": info.stop, "keys": sum(s.keys for s in info.shards),
            "bytes": sum(s.size_bytes for s in info.shards), "encryption": info.encryption}


def replicate_backups_now(timeout: float = 300.0, configuration: Configuration = None) -> dict[str, Any]:
    """One run of the scheduled sync to the backup region now; returns the measured replication lag."""
    return dataclasses.asdict(engine(configuration).platform.replicate_now(float(timeout)))
