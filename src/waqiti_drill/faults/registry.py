"""The fault registry: one definition per fault kind, the single place that says how a fault is injected,
recorded and undone (Jepsen's nemesis, one entry per fault).

Everything else is derived from it: the chaostoolkit actions are thin adapters that name a kind, `heal`
undoes a ledger entry with its kind's `undo` in its kind's `undo_order`, the drill's "member fault in
force" is `member_fault`, the checker's RPO mode comes from the fault record's `rpo_mode`, and the tests
walk this table instead of keeping their own list of kinds.

How to add a fault kind:
  1. the primitive on the Platform (platform/base.py, implemented in platform/local/...), returning once
     the fault is in force, and its undo (idempotent: a heal may run it twice, or after a crash);
  2. a `FaultKind(...)` passed to `register()` in faults/kinds.py (or a module it imports): its `kind`
     name (which is also the name of its fault record and of its ledger entries), `inject`, `undo` and
     `undo_order` (0 resume frozen processes, 1 lift partitions and free disks, 2 restart services the
     members depend on, 3 restart members and nodes, 4 restore topology), `resolve` to turn what the
     caller named ("primary", None) into a concrete target at the moment it runs, `record_at`, `rpo_mode`,
     `member_fault`;
  3. a chaostoolkit action in faults/actions.py: `return engine(configuration).inject("<kind>", target)`;
  4. `tests/unit/test_registry.py` walks the registry; nothing else to list.

Three shapes of fault:
  - ledgered (`ledgered=True`): in the ledger BEFORE it is injected, out of it only once undone; `undo`
    is required. Stays in force until heal (or its own undo action) undoes it.
  - timed (`hold=True`, e.g. a freeze): ledgered too, held for `seconds` from the instant it took effect,
    then undone by the engine itself (also when interrupted).
  - a transition (`ledgered=False`, e.g. a switchover, a reshard): complete when `inject` returns; nothing
    is broken afterwards, so there is no undo. Its heal record marks the end of the transition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from waqiti_drill.errors import StateDirError
from waqiti_drill.platform.base import Platform

RecordAt = Literal["before", "after"]
RpoMode = Literal["failover", "restore"]
Inject = Callable[..., dict[str, Any] | None]  # (platform, target, **params) -> what it did, for the journal
Undo = Callable[[Platform, str], None]  # (platform, target); idempotent
Resolve = Callable[[Platform, "str | None"], str]  # what the caller named -> the concrete target, now
UNDO_ORDERS = range(5)


def as_given(_platform: Platform, target: str | None) -> str:
    """For kinds whose target is fixed or given exactly ("dcs", "object-store", a member name)."""
    return target or ""


@dataclass(frozen=True)
class FaultKind:
    kind: str
    inject: Inject
    undo: Undo | None = None
    undo_order: int = 3
    ledgered: bool = True
    hold: bool = False  # timed: held for `seconds`, then undone by the engine itself
    record_at: RecordAt = "after"  # the fault record's instant: before the injection call, or once it is in force
    rpo_mode: RpoMode = "failover"  # how the checker measures data lost by this fault
    member_fault: bool = False  # takes a PostgreSQL member away, so a failover may be in progress
    halts_failover: bool = False  # no failover can complete while it stands (the DCS is gone)
    resolve: Resolve = as_given
    default_target: str | None = None  # what the action uses when the caller names nothing
    aliases: tuple[str, ...] = ()  # names older ledgers used for this kind
    describe: str = ""

    def check(self) -> None:
        """The definition is consistent (run at registration: a bad kind never reaches a drill)."""
        if self.ledgered and self.undo is None:
            raise ValueError(f"fault kind {self.kind}: a ledgered fault needs an undo")
        if not self.ledgered and (self.undo is not None or self.hold):
            raise ValueError(f"fault kind {self.kind}: a transition (not ledgered) has no undo and is not held")
        if self.undo_order not in UNDO_ORDERS:
            raise ValueError(f"fault kind {self.kind}: undo_order must be in 0..{UNDO_ORDERS[-1]}")


REGISTRY: dict[str, FaultKind] = {}
_ALIASES: dict[str, str] = {}


def register(kind: FaultKind) -> FaultKind:
    kind.check()
    for name in (kind.kind, *kind.aliases):
        if name in REGISTRY or name in _ALIASES:
            raise ValueError(f"fault kind {name} is registered twice")
    REGISTRY[kind.kind] = kind
    _ALIASES.update({alias: kind.kind for alias in kind.aliases})
    return kind


def kinds() -> dict[str, FaultKind]:
    """Every registered kind by name (faults/kinds.py registers the built-in ones on import)."""
    from waqiti_drill.faults import kinds as _builtin  # noqa: F401 - registers on import

    return dict(REGISTRY)


def get(name: str) -> FaultKind:
    """The kind an action names; an unknown one is a programming error, named with the valid ones."""
    found = lookup(name)
    if found is None:
        raise ValueError(f"unknown fault kind {name!r}; registered: {', '.join(sorted(kinds()))}")
    return found


def lookup(name: str) -> FaultKind | None:
    registered = kinds()
    return registered.get(name) or registered.get(_ALIASES.get(name, ""))


def for_ledger_entry(name: str, ledger_file: Path) -> FaultKind:
    """The kind of a ledger entry; an unknown one (a ledger written by another version, or edited) is a
    one-line error naming the kind and the ledger file, so the operator knows what to inspect."""
    found = lookup(name)
    if found is None:
        raise StateDirError(f"{ledger_file}: the fault ledger holds an unknown fault kind {name!r} (known: "
                            f"{', '.join(sorted(kinds()))}); inspect it, undo that fault by hand, remove its entry "
                            "and run 'drill heal'")
    return found
