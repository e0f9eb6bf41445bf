"""Undoing faults: what the ledger holds first (each entry with its kind's undo, in the registry's undo
order), then a sweep for anything a killed run left behind outside the ledger, then the platform's
idempotent start, then a wait until healthy.

The order matters (see faults/kinds.py): frozen processes are resumed, partitions removed and filled
disks freed before anything is restarted, because a restart waits for peers that a freeze or a partition
still holds away, and a member cannot start on a full disk.
"""

from __future__ import annotations

from waqiti_drill.faults import health, registry
from waqiti_drill.faults.ledger import FaultLedger
from waqiti_drill.platform.base import Platform


def heal_all(platform: Platform, ledger: FaultLedger, timeout: float) -> list[str]:
    """Undo every active fault, resume every process, restart what is down, wait until healthy.

    Returns one line per thing undone. An entry leaves the ledger only once its undo succeeded. An entry of
    an unknown kind stops the heal before anything is undone (StateDirError naming the kind and the file).
    """
    active = [(registry.for_ledger_entry(f.kind, ledger.path), f) for f in ledger.active()]
    undone: list[str] = []
    for kind, fault in sorted(active, key=lambda pair: pair[0].undo_order):
        assert kind.undo is not None  # only ledgered kinds enter the ledger; registration checks they have one
        kind.undo(platform, fault.target)
        ledger.end(fault.id)
        undone.append(f"{kind.kind} {fault.target}")
    undone += [f"resumed {what}" for what in platform.resume_all()]
    undone += platform.heal_network()
    for name in platform.disk_faults():
        platform.free_disk(name)
        undone.append(f"freed the disk of {name}")
    needed = bool(undone) or bool(platform.parts_down()) or bool(health.problems(platform))
    if needed:
        platform.up()  # idempotent: starts whatever is not running, keeps the rest (~2 s even when all runs)
    closed = platform.close_open_slots()  # a reshard a killed drill cut short
    if needed or closed:
        health.wait_healthy(platform, timeout)  # (healthy a moment ago otherwise: nothing to wait for)
    return undone + closed
