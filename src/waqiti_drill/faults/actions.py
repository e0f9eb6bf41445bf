"""chaostoolkit actions of the waqiti_drill extension: node-level faults through the Platform.

Each action resolves its target at the moment it runs ("primary" is whoever is primary then),
writes the fault to the active-fault ledger before injecting it, records the instant the fault took
effect into the run's history, and returns what it did (kept in the chaostoolkit journal).
Timed faults (freeze for N seconds) undo themselves; the rest are undone by `heal`, the rollback of
every experiment, which undoes whatever the ledger holds.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from waqiti_drill.errors import InvalidConfig
from waqiti_drill.faults import health
from waqiti_drill.faults.context import Configuration, ledger_of, platform_of, record_fault, settings_of
from waqiti_drill.faults.heal import heal_all
from waqiti_drill.history import FaultRecord
from waqiti_drill.platform.base import Platform
from waqiti_drill.platform.redis_slots import plan_move, slot_counts

ROLES = ("primary", "sync_standby", "replica")

__all__ = [
    "add_redis_master", "backup_must_fail", "destroy_postgres_cluster", "fill_disk", "freeze_member",
    "freeze_redis_node", "heal", "isolate_dcs", "isolate_member", "kill_dcs", "kill_member", "kill_redis_master",
    "move_redis_slots", "observe", "rebalance_redis", "recover_postgres_from_repository",
    "start_object_store", "stop_member", "stop_object_store", "switchover", "take_backup", "wait_until_healthy",
    "wait_until_redis_serves_all_slots", "wait_until_writable",
]


def resolve_member(platform: Platform, member: str) -> str:
    """A role (primary, sync_standby, replica) or a member name -> the member name, now."""
    members = platform.postgres_members()
    if member in ROLES:
        found = [m.name for m in members if m.role == member]
        if not found:
            seen = ", ".join(f"{m.name}={m.role}" for m in members)
            raise InvalidConfig(f"no member is {member} now ({seen})")
        return found[0]
    if member not in {m.name for m in members}:
        raise InvalidConfig(f"unknown member '{member}'; valid: {', '.join(ROLES)} or "
                            f"{', '.join(m.name for m in members)}")
    return member


def _done(record: FaultRecord, **extra: Any) -> dict[str, Any]:
    at = datetime.fromtimestamp(record.wall, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"fault": record.name, "target": record.target, "injected_at": at, **extra}


def _inject(configuration: Configuration, kind: str, target: str, do: Any, **detail: Any) -> FaultRecord:  # noqa: ANN401
    """Ledger first, then the fault, then its record: the ledger must never miss an injected fault."""
    ledger_of(configuration).begin(kind, target)
    do()
    return record_fault(configuration, kind, target, "inject", **detail)


def kill_member(member: str = "primary", configuration: Configuration = None) -> dict[str, Any]:
    """SIGKILL Patroni and the member's whole postgres process tree at once, like a pod kill."""
    platform = platform_of(configuration)
    name = resolve_member(platform, member)
    record = _inject(configuration, "kill_member", name, lambda: platform.kill_member(name), role=member)
    return _done(record)


def stop_member(member: str = "sync_standby", configuration: Configuration = None) -> dict[str, Any]:
    """Stop the member gracefully (Patroni shuts PostgreSQL down cleanly)."""
    platform = platform_of(configuration)
    name = resolve_member(platform, member)
    record = _inject(configuration, "stop_member", name, lambda: platform.stop_member(name), role=member)
    return _done(record)


def _timed_freeze(configuration: Configuration, kind: str, target: str, freeze: Any, thaw: Any,  # noqa: ANN401
                  seconds: float, **detail: Any) -> dict[str, Any]:
    """Freeze, hold for `seconds` from the moment the freeze took effect, thaw (also if interrupted)."""
    if not 0 < float(seconds) <= 3600:
        raise InvalidConfig(f"freeze seconds must be in (0, 3600], got {seconds!r}")
    ledger = ledger_of(configuration)
    entry = ledger.begin(kind, target)
    try:
        freeze()
        record = record_fault(configuration, kind, target, "inject", seconds=seconds, **detail)
        time.sleep(max(0.0, record.mono + float(seconds) - time.monotonic()))
    finally:
        thaw()
    record_fault(configuration, kind, target, "heal")
    ledger.end(entry.id)
    return _done(record, seconds=seconds)


def freeze_member(member: str = "primary", seconds: float = 5.0, configuration: Configuration = None) -> dict[str, Any]:
    """SIGSTOP every process of the member for `seconds`, then SIGCONT (also if interrupted)."""
    platform = platform_of(configuration)
    name = resolve_member(platform, member)
    return _timed_freeze(configuration, "freeze_member", name, lambda: platform.freeze_member(name),
                         lambda: platform.thaw_member(name), seconds, role=member)


def switchover(candidate: str | None = None, configuration: Configuration = None) -> dict[str, Any]:
    """Planned switchover to `candidate` (a member name or sync_standby), or to Patroni's choice."""
    platform = platform_of(configuration)
    target = None if candidate in (None, "") else resolve_member(platform, candidate)
    old = resolve_member(platform, "primary")
    record = record_fault(configuration, "switchover", old, "inject", candidate=target)  # the request goes out now
    platform.switchover(target)
    record_fault(configuration, "switchover", old, "heal")
    return _done(record, candidate=target)


def _master(platform: Platform, address: str | None) -> str:
    masters = sorted(n.address for n in platform.redis_status().nodes if n.role == "master" and n.slots)
    if not masters:
        raise InvalidConfig("no Redis master serves slots now")
    if address in (None, ""):
        return masters[0]
    if address not in masters:
        raise InvalidConfig(f"'{address}' is not a Redis master now; masters: {', '.join(masters)}")
    return address


def kill_redis_master(address: str | None = None, configuration: Configuration = None) -> dict[str, Any]:
    """SIGKILL a Redis master (the first by address unless named); its replica should take over."""
    platform = platform_of(configuration)
    target = _master(platform, address)
    record = _inject(configuration, "kill_redis_node", target, lambda: platform.kill_redis_node(target))
    return _done(record)


def freeze_redis_node(address: str | None = None, seconds: float = 5.0,
                      configuration: Configuration = None) -> dict[str, Any]:
    """SIGSTOP a Redis node (a master unless named) for `seconds`, then SIGCONT."""
    platform = platform_of(configuration)
    target = _master(platform, address) if address in (None, "") else address
    return _timed_freeze(configuration, "freeze_redis_node", target, lambda: platform.freeze_redis_node(target),
                         lambda: platform.thaw_redis_node(target), seconds)


def move_redis_slots(count: int = 1000, source: str | None = None, target: str | None = None,
                     configuration: Configuration = None) -> dict[str, Any]:
    """Reshard under load: migrate `count` slots with their keys from master `source` (default: the
    one serving the most slots) to master `target` (default: the one serving the fewest).

    The fault record's inject is the moment the migration starts, its heal the moment every node
    agrees on the new owners. Nothing goes into the ledger: moved slots are not broken, there is
    nothing for `heal` to undo (`rebalance_redis` evens them out again).
    """
    platform = platform_of(configuration)
    before = platform.redis_status()
    move = plan_move(before, source, target, count)  # refused here, before anything is recorded
    src, dst = move.source.address, move.target.address
    record = record_fault(configuration, "move_redis_slots", src, "inject", to=dst, count=count)
    moved = platform.move_slots(src, dst, count)
    healed = record_fault(configuration, "move_redis_slots", src, "heal", to=dst, moved=moved)
    return _done(record, to=dst, moved=moved, seconds=round(healed.mono - record.mono, 3),
                 slots_before=slot_counts(before), slots_after=slot_counts(platform.redis_status()))


def add_redis_master(configuration: Configuration = None) -> dict[str, Any]:
    """Scale out under load: a new master (and its replica) joins and the slots are rebalanced onto it.

    In the ledger first (its undo, part of `heal`, moves the slots back and removes both nodes). The fault
    record's inject is the moment the join starts, as for a reshard: the change is under way from then on,
    and stays until the heal undoes it."""
    platform = platform_of(configuration)
    before = platform.redis_status()
    ledger_of(configuration).begin("add_redis_master", "redis")
    record = record_fault(configuration, "add_redis_master", "redis", "inject")
    added = platform.add_redis_master()
    return _done(record, added=added, seconds=round(time.monotonic() - record.mono, 3),
                 slots_before=slot_counts(before), slots_after=slot_counts(platform.redis_status()))


def rebalance_redis(configuration: Configuration = None) -> dict[str, Any]:
    """Even the Redis slots out over the masters again (after a reshard); hygiene, not a heal."""
    platform = platform_of(configuration)
    started = time.monotonic()
    platform.rebalance_redis_slots()
    return {"seconds": round(time.monotonic() - started, 3), "slots": slot_counts(platform.redis_status())}


def stop_object_store(configuration: Configuration = None) -> dict[str, Any]:
    """Make the S3 object store unavailable (its process stopped); `start_object_store` or heal undoes it."""
    platform = platform_of(configuration)
    record = _inject(configuration, "stop_object_store", "object-store", platform.stop_object_store)
    return _done(record)


def start_object_store(configuration: Configuration = None) -> dict[str, Any]:
    platform = platform_of(configuration)
    ledger = ledger_of(configuration)
    platform.start_object_store()
    for fault in ledger.active():
        if fault.kind == "stop_object_store":
            ledger.end(fault.id)
    record = record_fault(configuration, "stop_object_store", "object-store", "heal")
    done = _done(record)
    return {"healed": done["fault"], "target": done["target"], "healed_at": done["injected_at"]}


def isolate_member(member: str = "primary", configuration: Configuration = None) -> dict[str, Any]:
    """Cut the member off the network (a real partition); its processes keep running."""
    platform = platform_of(configuration)
    name = resolve_member(platform, member)
    record = _inject(configuration, "isolate_member", name, lambda: platform.isolate_member(name),
                     role=member)
    return _done(record)


def fill_disk(member: str = "primary", configuration: Configuration = None) -> dict[str, Any]:
    """Fill the filesystem holding the member's PGDATA and pg_wal (its own bounded one) to the last block.

    Returns once the filesystem is full; `heal` (or free_disk) removes the filler. PostgreSQL then fails
    to extend files and to write WAL, as on a real full volume.
    """
    platform = platform_of(configuration)
    name = resolve_member(platform, member)
    written: list[int] = []
    started = time.monotonic()
    record = _inject(configuration, "fill_disk", name, lambda: written.append(platform.fill_disk(name)),
                     role=member)
    return _done(record, bytes_written=written[0] if written else 0,
                 fill_seconds=round(time.monotonic() - started, 3))


def kill_dcs(configuration: Configuration = None) -> dict[str, Any]:
    """SIGKILL the etcd DCS: Patroni can no longer renew the leader key."""
    platform = platform_of(configuration)
    record = _inject(configuration, "kill_dcs", "dcs", platform.kill_dcs)
    return _done(record)


def isolate_dcs(configuration: Configuration = None) -> dict[str, Any]:
    """Partition the etcd DCS from every member; etcd keeps running."""
    platform = platform_of(configuration)
    record = _inject(configuration, "isolate_dcs", "dcs", platform.isolate_dcs)
    return _done(record)


def destroy_postgres_cluster(configuration: Configuration = None) -> dict[str, Any]:
    """Site loss: every PostgreSQL member killed at once, its disk destroyed and the cluster's DCS state
    deleted; only the object store's repository is left. `recover_postgres_from_repository` (or heal)
    rebuilds it. The fault instant is taken just before the kill, so the RTO measured from it can only
    be longer than the outage clients saw, never shorter. RPO is measured in restore mode."""
    platform = platform_of(configuration)
    ledger_of(configuration).begin("destroy_postgres", "cluster")
    record = record_fault(configuration, "destroy_postgres", "cluster", "inject", rpo_mode="restore")
    platform.destroy_postgres()
    return _done(record, destroyed_in_seconds=round(time.monotonic() - record.mono, 3))


def recover_postgres_from_repository(timeout: float = 900.0, configuration: Configuration = None) -> dict[str, Any]:
    """Rebuild the lost cluster from the repository alone: the newest backup set, then every archived
    WAL segment, then promotion; the other members clone the new primary."""
    platform = platform_of(configuration)
    info = platform.recover_postgres(float(timeout))
    ledger = ledger_of(configuration)
    for fault in ledger.active():
        if fault.kind == "destroy_postgres":
            ledger.end(fault.id)
    record_fault(configuration, "destroy_postgres", "cluster", "heal", backup=info.backup.label)
    return {"backup": info.backup.label, "backup_type": info.backup.type, "wal_start": info.backup.wal_start,
            "wal_stop": info.backup.wal_stop, "backup_stop": info.backup.stop, "seconds": info.seconds}


def take_backup(kind: str = "full", timeout: float = 600.0, configuration: Configuration = None) -> dict[str, Any]:
    """Take a backup now (full, incr or diff) from the current primary; the set goes into the journal."""
    import dataclasses

    if kind not in ("full", "incr", "diff"):
        raise InvalidConfig(f"backup kind must be full, incr or diff, got {kind!r}")
    return dataclasses.asdict(platform_of(configuration).backup(kind, float(timeout)))  # type: ignore[arg-type]


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
        info = platform_of(configuration).backup(kind, float(timeout))  # type: ignore[arg-type]
    except DrillError as exc:
        return {"failed": True, "seconds": round(time.monotonic() - started, 3), "error": str(exc)}
    raise ActivityFailed(f"a {kind} backup succeeded ({info.label}) while the object store should be down")


def _wait(configuration: Configuration, what: str, probe: Any, timeout: float) -> dict[str, Any]:  # noqa: ANN401
    from waqiti_drill.waiting import wait_until

    started = time.monotonic()
    wait_until(lambda: (bool(probe()), "not yet"), float(timeout), what, interval=0.2)
    return {"waited_seconds": round(time.monotonic() - started, 3)}


def wait_until_writable(timeout: float = 120.0, configuration: Configuration = None) -> dict[str, Any]:
    """Wait until the read-write endpoint reaches a writable primary again."""
    from waqiti_drill.faults.probes import writable_primary_exists

    return _wait(configuration, "a writable primary behind the read-write endpoint",
                 lambda: writable_primary_exists(configuration), timeout)


def wait_until_redis_serves_all_slots(timeout: float = 120.0, configuration: Configuration = None) -> dict[str, Any]:
    """Wait until the Redis Cluster is ok with all 16384 slots served (a replica promoted, if need be)."""
    from waqiti_drill.faults.probes import redis_all_slots_served

    return _wait(configuration, "the Redis Cluster to serve all 16384 slots",
                 lambda: redis_all_slots_served(configuration), timeout)


def wait_until_healthy(timeout: float = 300.0, configuration: Configuration = None) -> dict[str, Any]:
    """Wait until the whole platform is healthy (one primary, two streaming replicas, Redis ok)."""
    started = time.monotonic()
    health.wait_healthy(platform_of(configuration), float(timeout))
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
    from waqiti_drill.faults import controls

    if controls.holds_lock():
        return _heal(timeout, configuration)
    if controls.refused:
        return {"skipped": "this drill was refused at start; the platform was not touched"}
    with controls.DrillLock(settings_of(configuration).state_dir).held():
        return _heal(timeout, configuration)


def _heal(timeout: float, configuration: Configuration) -> dict[str, Any]:
    platform = platform_of(configuration)
    undone = heal_all(platform, ledger_of(configuration), float(timeout))
    for line in undone:
        record_fault(configuration, "heal", line, "heal")
    return {"undone": undone, "healthy": health.problems(platform) == []}
