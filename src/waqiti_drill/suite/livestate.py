"""The state of a `drill run` in progress, folded from what the run directory says (suite/livefeed.py).

`RunFeed.poll(now)` returns a Snapshot (what the live view draws) and the Notes that happened since the
last poll (what the plain, one-line-per-phase output prints: a scenario started, a fault took effect or
was undone, the heal began, a scenario ended with its figures). Pure bookkeeping over files, so it is
unit-tested with run directories written by hand.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from waqiti_drill.suite.estimates import Estimates, human
from waqiti_drill.suite.livefeed import FaultSeen, FaultWatch, LineTail, LiveWrites, Rate, last_roles
from waqiti_drill.suite.progress import PROGRESS_FILE
from waqiti_drill.suite.records import RESULT_FILE


@dataclass
class Note:
    """One phase of the run, as a plain line says it."""

    wall: float
    n: int | None
    text: str


@dataclass
class Snapshot:
    run_id: str
    started: float
    total: int | None = None  # scenarios selected (None until pytest has collected)
    n: int | None = None  # the scenario in progress, 1-based
    name: str = ""  # "feature: scenario"
    phase: str = "starting"  # starting | running | ending (heal, read back, check) | between | finished
    scenario_started: float | None = None
    step: str = ""
    step_index: int = 0
    steps: int = 0
    fault: FaultSeen | None = None  # in force
    last_fault: FaultSeen | None = None
    writes: dict[str, Rate] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: {"passed": 0, "failed": 0, "skipped": 0})
    eta_seconds: float | None = None
    eta_unknown: int = 0  # scenarios left without an estimate


class Scenario:
    """The readers of the scenario in progress."""

    def __init__(self, directory: Path, state_dir: Path) -> None:
        self.directory = directory
        self.writes = LiveWrites(directory / "history")
        self.faults = FaultWatch(directory / "history", state_dir)


class RunFeed:
    def __init__(self, run_dir: Path, state_dir: Path, estimates: Estimates, started: float) -> None:
        self.run_dir, self.state_dir, self.estimates = run_dir, state_dir, estimates
        self.events = LineTail(run_dir / PROGRESS_FILE)
        self.snap = Snapshot(run_id=run_dir.name, started=started)
        self.planned: list[tuple[str, str]] = []
        self.current: Scenario | None = None

    def poll(self, now: float, now_mono: float | None = None) -> tuple[Snapshot, list[Note]]:
        """What the run directory says at wall time `now` (monotonic `now_mono`, for how long writes wait)."""
        notes: list[Note] = []
        for event in self.events.new():
            notes += self._apply(event)
        if self.current is not None:
            notes += self._watch(self.current, now, time.monotonic() if now_mono is None else now_mono)
        self._eta(now)
        return self.snap, notes

    def _apply(self, e: dict[str, Any]) -> list[Note]:
        s, kind, wall, n = self.snap, e.get("event"), float(e.get("wall", 0.0)), e.get("n")
        if kind == "collected":
            self.planned = [(str(x["feature"]), str(x["scenario"])) for x in e.get("scenarios", [])]
            s.total = len(self.planned)
            expected, unknown = self.estimates.total(self.planned)
            if unknown == s.total:
                guess = "no earlier run to estimate the duration from"
            else:
                guess = f"expected ~{human(expected)} from earlier runs" + (
                    f", plus {unknown} never run before" if unknown else "")
            return [Note(wall, None, f"{s.total} scenario(s) selected, {guess}")]
        if kind == "scenario":
            self.current = Scenario(self.run_dir / str(e["dir"]), self.state_dir)
            s.n, s.name, s.phase, s.scenario_started = n, f"{e['feature']}: {e['scenario']}", "running", wall
            s.step, s.step_index, s.steps, s.fault, s.last_fault, s.writes, s.roles = "", 0, e.get("steps", 0), \
                None, None, {}, {}
            expected = self.estimates.expected(str(e["feature"]), str(e["scenario"]))
            guess = f"expected ~{human(expected)}" if expected is not None else "never run before"
            return [Note(wall, n, f"start: {s.name} ({guess})")]
        if kind == "step":
            s.step, s.step_index, s.steps = str(e.get("step", "")), int(e.get("index", 0)), int(e.get("steps", 0))
        elif kind == "step_failed":
            return [Note(wall, n, f"step failed: {e.get('step', '')}")]
        elif kind == "teardown":
            s.phase = "ending"
            return [Note(wall, n, "ending: heal, stop the load, read back, check")]
        elif kind == "done":
            return [self._done(wall, n, str(e.get("status", "unknown")))]
        elif kind == "finished":
            s.phase, s.n = "finished", None
        return []

    def _done(self, wall: float, n: int | None, status: str) -> Note:
        s = self.snap
        started = self.current is not None and s.n == n
        if not started:  # skipped before it started (no scenario event): named from the collected list
            s.name = " ".join(f"{a}: {b}" for a, b in self.planned[(n or 1) - 1:(n or 1)])
            s.scenario_started = wall
        s.counts[status] = s.counts.get(status, 0) + 1
        detail = _result_line(self.current.directory if started and self.current else None)
        took = wall - (s.scenario_started or wall)
        s.phase, s.fault, s.n = "between", None, None
        self.current = None
        return Note(wall, n, f"{status} in {human(took)}: {s.name}{detail}")

    def _watch(self, sc: Scenario, now: float, now_mono: float) -> list[Note]:
        s = self.snap
        known = sc.writes.unreadable
        s.writes = sc.writes.poll(now, now_mono)
        notes: list[Note] = []
        if sc.writes.unreadable and not known:  # said once, not every half second
            notes.append(Note(now, s.n, f"history: {sc.writes.unreadable}"))
        s.roles = last_roles(sc.directory / "roles.jsonl") or s.roles
        known = sc.faults.unreadable
        injected, undone = sc.faults.poll(now)
        if sc.faults.unreadable and not known:
            notes.append(Note(now, s.n, f"fault records: {sc.faults.unreadable}"))
        s.fault, s.last_fault = sc.faults.in_force(), sc.faults.last()
        notes += [Note(f.injected_wall, s.n, f"fault: {f.name} on {f.target}") for f in injected]
        notes += [Note(f.undone_wall or now, s.n, f"fault undone: {f.name} on {f.target} after "
                       f"{human((f.undone_wall or now) - f.injected_wall)}") for f in undone]
        return notes

    def _eta(self, now: float) -> None:
        s = self.snap
        if s.total is None:
            return
        done = sum(s.counts.values())
        left = self.planned[done + (1 if s.n else 0):]
        expected, unknown = self.estimates.total(left)
        if s.n is not None and s.scenario_started is not None:
            current = self.estimates.expected(*self.planned[s.n - 1]) if s.n <= len(self.planned) else None
            if current is None:
                unknown += 1
            else:
                expected += max(0.0, current - (now - s.scenario_started))
        s.eta_seconds, s.eta_unknown = expected, unknown


def _result_line(directory: Path | None) -> str:
    """RTO/RPO and the first deviation from the scenario's result.json, when it wrote one."""
    if directory is None:
        return ""
    try:
        r = json.loads((directory / RESULT_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return ""
    figures = [f"{k} {r[f]:.1f} s" for k, f in (("RTO", "rto_seconds"), ("RPO", "rpo_seconds"))
               if isinstance(r.get(f), int | float)]
    if isinstance(r.get("lost_writes"), int):
        figures.append(f"{r['lost_writes']} lost of {r.get('acked_writes')}")
    text = f" ({', '.join(figures)})" if figures else ""
    deviations = r.get("deviations") or []
    if r.get("status") != "passed" and deviations:
        text += f"; {deviations[-1]}"
    return text
