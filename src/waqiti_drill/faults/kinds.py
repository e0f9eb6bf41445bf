"""The built-in fault kinds (see registry.py for what each field means and how to add one).

Undo order: frozen processes are resumed (0), partitions lifted and filled disks freed (1) before the
services the members depend on restart (2), then members and nodes (3), then topology changes (4):
a restart waits for peers that a freeze or a partition still holds away, and a member cannot start on
a full disk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waqiti_drill.errors import InvalidConfig
from waqiti_drill.faults.registry import FaultKind, register
from waqiti_drill.platform.base import Platform
from waqiti_drill.platform.redis_slots import slot_counts

ROLES = ("primary", "sync_standby", "replica")


def resolve_member(platform: Platform, member: str | None) -> str:
    """A role (primary, sync_standby, replica) or a member name -> the member name, now."""
    member = member or "primary"
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


def resolve_master(platform: Platform, address: str | None) -> str:
    """A Redis master serving slots now: the one named, else the first by address."""
    masters = sorted(n.address for n in platform.redis_status().nodes if n.role == "master" and n.slots)
    if not masters:
        raise InvalidConfig("no Redis master serves slots now")
    if not address:
        return masters[0]
    if address not in masters:
        raise InvalidConfig(f"'{address}' is not a Redis master now; masters: {', '.join(masters)}")
    return address


def resolve_redis_node(platform: Platform, address: str | None) -> str:
    """Any node named by address, else the first master."""
    if not address:
        return resolve_master(platform, None)
    known = [n.address for n in platform.redis_status().nodes]
    if address not in known:
        raise InvalidConfig(f"'{address}' is not a Redis node of this cluster; nodes: {', '.join(sorted(known))}")
    return address


def _fill_disk(platform: Platform, target: str) -> dict[str, Any]:
    return {"bytes_written": platform.fill_disk(target)}


def _switchover(platform: Platform, target: str, candidate: str | None = None) -> dict[str, Any]:
    platform.switchover(candidate)
    return {"candidate": candidate}


def _move_slots(platform: Platform, target: str, to: str, count: int) -> dict[str, Any]:
    before = slot_counts(platform.redis_status())
    moved = platform.move_slots(target, to, count)
    return {"to": to, "moved": moved, "slots_before": before, "slots_after": slot_counts(platform.redis_status())}


def _add_master(platform: Platform, target: str) -> dict[str, Any]:
    before = slot_counts(platform.redis_status())
    added = platform.add_redis_master()
    return {"added": added, "slots_before": before, "slots_after": slot_counts(platform.redis_status())}


def _recover_if_lost(platform: Platform, target: str) -> None:
    if platform.postgres_lost():
        platform.recover_postgres()


def _do(call: Callable[[Platform, str], object]) -> Callable[[Platform, str], None]:
    """An inject (or undo) for a primitive that only acts: it returns once in force, with nothing to report."""

    def inject(platform: Platform, target: str) -> None:
        call(platform, target)

    return inject


# PostgreSQL members
register(FaultKind("kill_member", _do(lambda p, t: p.kill_member(t)), lambda p, t: p.start_member(t), 3,
                   member_fault=True, resolve=resolve_member, default_target="primary",
                   describe="Patroni and the member's whole postgres process tree SIGKILLed at once (a pod kill)"))
register(FaultKind("stop_member", _do(lambda p, t: p.stop_member(t)), lambda p, t: p.start_member(t), 3,
                   member_fault=True, resolve=resolve_member, default_target="sync_standby",
                   describe="the member stopped gracefully (Patroni shuts PostgreSQL down cleanly)"))
register(FaultKind("freeze_member", _do(lambda p, t: p.freeze_member(t)), lambda p, t: p.thaw_member(t), 0,
                   hold=True, resolve=resolve_member, default_target="primary",
                   describe="every process of the member SIGSTOPped for N seconds (a hung host)"))
register(FaultKind("isolate_member", _do(lambda p, t: p.isolate_member(t)), lambda p, t: p.reconnect_member(t),
                   1, member_fault=True, resolve=resolve_member, default_target="primary",
                   describe="the member cut off the network (iptables DROP in its namespace)"))
register(FaultKind("fill_disk", _fill_disk, lambda p, t: p.free_disk(t), 1, resolve=resolve_member,
                   default_target="primary", describe="the member's own filesystem filled to the last block"))
register(FaultKind("switchover", _switchover, ledgered=False, record_at="before", resolve=resolve_member,
                   default_target="primary", describe="a planned switchover away from the primary"))

# The DCS
register(FaultKind("kill_dcs", _do(lambda p, t: p.kill_dcs()), lambda p, t: p.start_dcs(), 2,
                   halts_failover=True, default_target="dcs", describe="etcd SIGKILLed"))
register(FaultKind("freeze_dcs", _do(lambda p, t: p.freeze_dcs()), lambda p, t: p.thaw_dcs(), 0, hold=True,
                   halts_failover=True, default_target="dcs", describe="etcd SIGSTOPped for N seconds"))
register(FaultKind("isolate_dcs", _do(lambda p, t: p.isolate_dcs()), lambda p, t: p.reconnect_dcs(), 1,
                   halts_failover=True, default_target="dcs", describe="etcd cut off from every member"))

# Redis
register(FaultKind("kill_redis_master", _do(lambda p, t: p.kill_redis_node(t)),
                   lambda p, t: p.start_redis_node(t), 3, resolve=resolve_master, aliases=("kill_redis_node",),
                   describe="a Redis master SIGKILLed; its replica should take over"))
register(FaultKind("freeze_redis_node", _do(lambda p, t: p.freeze_redis_node(t)),
                   lambda p, t: p.thaw_redis_node(t), 0, hold=True, resolve=resolve_redis_node,
                   describe="a Redis node SIGSTOPped for N seconds"))
register(FaultKind("move_redis_slots", _move_slots, ledgered=False, record_at="before",
                   describe="slots and their keys migrated from one master to another under load"))
register(FaultKind("add_redis_master", _add_master, _do(lambda p, t: p.remove_added_redis_nodes()), 4,
                   record_at="before", default_target="redis",
                   describe="a master and its replica added and the slots rebalanced onto it"))

# Services and the whole site
register(FaultKind("stop_object_store", _do(lambda p, t: p.stop_object_store()),
                   lambda p, t: p.start_object_store(), 2, default_target="object-store",
                   describe="the S3 object store stopped"))
register(FaultKind("destroy_postgres_cluster", _do(lambda p, t: p.destroy_postgres()), _recover_if_lost, 4,
                   record_at="before", rpo_mode="restore", member_fault=False, default_target="cluster",
                   aliases=("destroy_postgres",),
                   describe="every member killed, its disk destroyed and its DCS state deleted (site loss)"))

# Registered in their own modules: the conditions the monitoring's alerts watch for (replay stalled, a disk filled
# to a percentage, connections held, refused logins), and the whole primary region and the whole Redis cluster.
from waqiti_drill.faults import monitoring_kinds, region_kinds  # noqa: E402, F401, I001 - register on import
