"""The fault engine of one stack: injects, holds, undoes and records faults as the registry defines them.

One object per stack (its platform, its ledger, its safety), built once per process and reused by every
action and probe (faults/context.py), so a drill's actions run on the drill's own platform object instead
of re-reading the settings and rebuilding a platform on every call.

The order of an injection is fixed here, once for every kind: ledger entry first (a crash between the two
leaves an entry whose undo is harmless), then the fault, then its record (or the record first, for kinds
whose instant is the request: a switchover, a reshard, a site loss). A fault leaves the ledger only once
its undo succeeded.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from waqiti_drill import history
from waqiti_drill.config import Settings
from waqiti_drill.errors import InvalidConfig
from waqiti_drill.faults import registry
from waqiti_drill.faults.heal import heal_all
from waqiti_drill.faults.ledger import ActiveFault, FaultLedger
from waqiti_drill.faults.registry import FaultKind
from waqiti_drill.history import FaultPhase, FaultRecord
from waqiti_drill.platform.base import Platform
from waqiti_drill.timefmt import utc_iso

MAX_HOLD_SECONDS = 3600.0


class FaultEngine:
    def __init__(self, settings: Settings, platform: Platform, config_file: str | None = None) -> None:
        from waqiti_drill.faults.controls import Safety

        self.settings = settings
        self.platform = platform
        self.config_file = config_file
        self.ledger = FaultLedger(settings.state_dir)
        self.safety = Safety(self)

    # ----- recording ---------------------------------------------------------------------------
    def record(self, run_dir: Path | None, name: str, target: str, phase: FaultPhase, **detail: Any) -> FaultRecord:
        """The fault's instant, taken now; written into the run's history when there is a run."""
        if run_dir is None:
            return FaultRecord.now(name, target, phase, **detail)
        return history.record_fault(run_dir / "history", name, target, phase, **detail)

    # ----- injecting ---------------------------------------------------------------------------
    def inject(self, name: str, target: str | None = None, run_dir: Path | None = None,
               seconds: float | None = None, **params: Any) -> dict[str, Any]:
        """Inject a fault of kind `name` on `target` (a role or name, resolved now; the kind's default when
        None). Returns what was done, for the chaostoolkit journal. A held kind needs `seconds`."""
        kind = registry.get(name)
        with self.safety.for_action(kind.kind):  # one drill at a time: refused (LockHeld) beside another
            return self._inject(kind, target, run_dir, seconds, **params)

    def _inject(self, kind: FaultKind, target: str | None, run_dir: Path | None, seconds: float | None,
                **params: Any) -> dict[str, Any]:
        named = target or kind.default_target
        resolved = kind.resolve(self.platform, named)
        detail: dict[str, Any] = {"role": named} if named and named != resolved else {}
        if kind.rpo_mode != "failover":
            detail["rpo_mode"] = kind.rpo_mode
        detail.update(params)
        if kind.hold:
            return self._hold(kind, resolved, run_dir, _hold_seconds(seconds), detail)
        if kind.ledgered:
            self.ledger.begin(kind.kind, resolved)
        started = time.monotonic()
        record = self.record(run_dir, kind.kind, resolved, "inject", **detail) if kind.record_at == "before" else None
        did = kind.inject(self.platform, resolved, **params) or {}
        if record is None:
            record = self.record(run_dir, kind.kind, resolved, "inject", **{**detail, **did})
        if not kind.ledgered:  # a transition ends when its call returns
            self.record(run_dir, kind.kind, resolved, "heal", **did)
        return {"fault": kind.kind, "target": resolved, "injected_at": utc_iso(record.wall),
                "seconds": round(time.monotonic() - started, 3), **detail, **did}

    def _hold(self, kind: FaultKind, target: str, run_dir: Path | None, seconds: float,
              detail: dict[str, Any]) -> dict[str, Any]:
        """Inject, hold for `seconds` from the instant it took effect, undo (also when interrupted)."""
        assert kind.undo is not None  # checked at registration
        entry = self.ledger.begin(kind.kind, target)
        try:
            kind.inject(self.platform, target)
            record = self.record(run_dir, kind.kind, target, "inject", seconds=seconds, **detail)
            time.sleep(max(0.0, record.mono + seconds - time.monotonic()))
        finally:
            kind.undo(self.platform, target)
        self.record(run_dir, kind.kind, target, "heal")
        self.ledger.end(entry.id)
        return {"fault": kind.kind, "target": target, "injected_at": utc_iso(record.wall), "seconds": seconds,
                **detail}

    # ----- undoing -----------------------------------------------------------------------------
    def settle(self, name: str, run_dir: Path | None, **detail: Any) -> list[ActiveFault]:
        """The caller has just undone the faults of kind `name` itself (start_object_store, the recovery of a
        lost cluster): they leave the ledger and their heal is recorded."""
        kind = registry.get(name)
        ended = [e for e in self.ledger.active() if registry.lookup(e.kind) is kind]
        for entry in ended:
            self.ledger.end(entry.id)
        target = ended[0].target if ended else (kind.default_target or "")
        self.record(run_dir, kind.kind, target, "heal", **detail)
        return ended

    def heal(self, timeout: float, run_dir: Path | None) -> list[str]:
        """Undo whatever the ledger holds, sweep, wait until healthy; each thing undone is recorded."""
        undone = heal_all(self.platform, self.ledger, timeout)
        for line in undone:
            self.record(run_dir, "heal", line, "heal")
        return undone

    def member_fault_in_force(self) -> bool:
        """A fault that takes a member away stands while the DCS is up: Patroni is (or will be) failing over."""
        standing = [registry.for_ledger_entry(e.kind, self.ledger.path) for e in self.ledger.active()]
        return any(k.member_fault for k in standing) and not any(k.halts_failover for k in standing)


def _hold_seconds(seconds: float | None) -> float:
    try:
        value = float(seconds) if seconds is not None else float("nan")
    except (TypeError, ValueError):
        value = float("nan")
    if not 0 < value <= MAX_HOLD_SECONDS:
        raise InvalidConfig(f"a held fault needs seconds in (0, {MAX_HOLD_SECONDS:g}], got {seconds!r}")
    return value
