"""The fault kinds that induce what the monitoring's alerts watch for (registered with the built-in ones:
faults/kinds.py imports this module). Each returns once its condition holds, so the fault record's instant
is when the condition began; the alert each should raise is in monitoring/expected.py.
"""

from __future__ import annotations

from typing import Any

from waqiti_drill.faults.kinds import resolve_member
from waqiti_drill.faults.registry import FaultKind, register
from waqiti_drill.platform.base import Platform


# What an inject returns joins its parameters in the record and the journal: it must not repeat them.
def _fill_to(platform: Platform, target: str, percent: float = 90.0) -> dict[str, Any]:
    return {"bytes_written": platform.fill_disk_to(target, float(percent))}


def _hold(platform: Platform, target: str, fraction: float = 0.95) -> dict[str, Any]:
    return {"connections_opened": platform.hold_connections(target, float(fraction))}


def _logins(platform: Platform, target: str, count: int = 8) -> dict[str, Any]:
    return {"refused": platform.attempt_failed_logins(target, int(count))}


def _stall(platform: Platform, target: str) -> None:
    platform.pause_replay(target)


def _release(platform: Platform, target: str) -> None:
    platform.release_connections()


register(FaultKind("stall_replay", _stall, lambda p, t: p.resume_replay(t), 0, resolve=resolve_member,
                   default_target="replica",
                   describe="a replica's WAL replay stopped while WAL keeps arriving (its lag grows under writes)"))
register(FaultKind("fill_disk_to", _fill_to, lambda p, t: p.free_disk(t), 1, resolve=resolve_member,
                   default_target="replica", describe="the member's own filesystem filled to a percentage"))
register(FaultKind("hold_connections", _hold, _release, 1, resolve=resolve_member, default_target="primary",
                   describe="client connections held open until a fraction of max_connections is in use"))
register(FaultKind("failed_logins", _logins, ledgered=False, record_at="before", resolve=resolve_member,
                   default_target="primary", describe="logins with a wrong password, each refused"))
