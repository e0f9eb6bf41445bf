"""Undoing faults: what the ledger holds first, then a sweep for anything a killed run left behind.

The order matters: frozen processes are resumed, partitions removed and filled disks freed before
anything is restarted, because a restart waits for peers that a freeze or a partition still holds away,
and a member cannot start on a full disk.
"""

from __future__ import annotations

from collections.abc import Callable

from waqiti_drill.faults import health
from waqiti_drill.faults.ledger import FaultLedger
from waqiti_drill.platform.base import Platform

Undo = Callable[[Platform, str], None]

# kind -> (order, undo). Lower order runs first.
UNDO: dict[str, tuple[int, Undo]] = {
    "freeze_member": (0, lambda p, t: p.thaw_member(t)),
    "freeze_redis_node": (0, lambda p, t: p.thaw_redis_node(t)),
    "freeze_dcs": (0, lambda p, t: p.thaw_dcs()),
    "fill_disk": (1, lambda p, t: p.free_disk(t)),
    "isolate_member": (1, lambda p, t: p.reconnect_member(t)),
    "isolate_dcs": (1, lambda p, t: p.reconnect_dcs()),
    "kill_dcs": (2, lambda p, t: p.start_dcs()),
    "stop_object_store": (2, lambda p, t: p.start_object_store()),
    "kill_member": (3, lambda p, t: p.start_member(t)),
    "stop_member": (3, lambda p, t: p.start_member(t)),
    "kill_redis_node": (3, lambda p, t: p.start_redis_node(t)),
    "add_redis_master": (4, lambda p, t: p.remove_added_redis_nodes() and None),
    "destroy_postgres": (4, lambda p, t: p.recover_postgres() if p.postgres_lost() else None),
}


def heal_all(platform: Platform, ledger: FaultLedger, timeout: float) -> list[str]:
    """Undo every active fault, resume every process, restart what is down, wait until healthy.

    Returns one line per thing undone. An entry leaves the ledger only once its undo succeeded.
    """
    undone: list[str] = []
    for fault in sorted(ledger.active(), key=lambda f: UNDO.get(f.kind, (9, None))[0]):
        if fault.kind not in UNDO:
            raise ValueError(f"the fault ledger holds an unknown fault kind '{fault.kind}' (id {fault.id})")
        UNDO[fault.kind][1](platform, fault.target)
        ledger.end(fault.id)
        undone.append(f"{fault.kind} {fault.target}")
    undone += [f"resumed {what}" for what in platform.resume_all()]
    undone += platform.heal_network()
    for name in platform.disk_faults():
        platform.free_disk(name)
        undone.append(f"freed the disk of {name}")
    platform.up()  # idempotent: starts whatever is not running, keeps the rest
    undone += platform.close_open_slots()  # a reshard a killed drill cut short
    health.wait_healthy(platform, timeout)
    return undone
