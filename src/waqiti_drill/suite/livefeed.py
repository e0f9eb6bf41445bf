"""Where `drill run`'s live view gets its data: files the run directory fills as the scenarios go.

The parent process only reads: <run>/progress.jsonl (scenario n of N and the step, from the pytest side,
suite/progress.py), each scenario's history/faults.jsonl (the fault's own instant), the stack's fault
ledger (what is injected and not yet undone), roles.jsonl (the role sampler) and the operation history
(writes and errors per service, as the clients saw them). Nothing here talks to a server.

Each reader keeps an offset and returns only what is new, so a poll every half second costs a few small
reads. `HistoryTail.new_writes` is the one place that parses the operation history; it is meant to be
replaced by the history module's incremental tail reader once that exists.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from waqiti_drill.history import FAULTS_FILE, WRITE_FUNCTIONS

RATE_WINDOW = 3.0  # writes/s over this many seconds...
RATE_LAG = 1.0  # ...ending this long ago: the load flushes its history about once a second


class LineTail:
    """New complete JSON lines of one file since the last call (a partial last line waits)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def new(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return []
        end = data.rfind(b"\n") + 1
        self.offset += end
        out = []
        for line in data[:end].splitlines():
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a live view skips what it cannot read; the checker is the one that refuses
            if isinstance(record, dict):
                out.append(record)
        return out


@dataclass(frozen=True)
class Write:
    service: str
    wall: float
    ok: bool  # acknowledged; otherwise failed or unknown (fail / info)


class HistoryTail:
    """Completed writes appended to a scenario's history since the last call."""

    def __init__(self, history_dir: Path) -> None:
        self.dir = history_dir
        self._tails: dict[Path, LineTail] = {}

    def new_writes(self) -> list[Write]:
        for path in sorted(self.dir.glob("ops-*.jsonl")):
            self._tails.setdefault(path, LineTail(path))
        out = []
        for tail in self._tails.values():
            for r in tail.new():
                if r.get("kind") == "op" and r.get("type") in ("ok", "fail", "info") and r.get("f") in WRITE_FUNCTIONS \
                        and isinstance(r.get("wall"), int | float):
                    out.append(Write(str(r.get("service")), float(r["wall"]), r["type"] == "ok"))
        return out


@dataclass
class Rate:
    ok_per_second: float
    errors_per_second: float
    ok_total: int
    errors_total: int
    last_ok_wall: float | None = None  # the newest acknowledged write seen


class WriteRates:
    """Per service: writes and errors per second over a recent window, and the totals so far."""

    def __init__(self) -> None:
        self.recent: deque[Write] = deque()
        self.totals: dict[str, list[int]] = {}
        self.last_ok: dict[str, float] = {}

    def add(self, writes: list[Write]) -> None:
        for w in sorted(writes, key=lambda w: w.wall):
            self.recent.append(w)
            counts = self.totals.setdefault(w.service, [0, 0])
            counts[0 if w.ok else 1] += 1
            if w.ok:
                self.last_ok[w.service] = max(w.wall, self.last_ok.get(w.service, w.wall))

    def at(self, now: float) -> dict[str, Rate]:
        end, start = now - RATE_LAG, now - RATE_LAG - RATE_WINDOW
        while self.recent and self.recent[0].wall < start - RATE_WINDOW:
            self.recent.popleft()
        rates = {}
        for service, (ok, errors) in sorted(self.totals.items()):
            window = [w for w in self.recent if w.service == service and start <= w.wall < end]
            good = sum(w.ok for w in window)
            rates[service] = Rate(good / RATE_WINDOW, (len(window) - good) / RATE_WINDOW, ok, errors,
                                  self.last_ok.get(service))
        return rates


@dataclass
class FaultSeen:
    name: str
    target: str
    injected_wall: float
    undone_wall: float | None = None  # its heal record, or when the ledger stopped holding it
    ledgered: bool = False  # the ledger was seen holding it


class FaultWatch:
    """The faults of one scenario: its fault records say when each took effect; the ledger (or a heal
    record, for the faults that write one) says when it was undone."""

    def __init__(self, history_dir: Path, state_dir: Path) -> None:
        self.records = LineTail(history_dir / FAULTS_FILE)
        self.ledger = state_dir / "faults" / "active.json"
        self.faults: list[FaultSeen] = []

    def poll(self, now: float) -> tuple[list[FaultSeen], list[FaultSeen]]:
        """(faults injected since the last poll, faults undone since the last poll)."""
        injected: list[FaultSeen] = []
        undone: list[FaultSeen] = []
        for r in self.records.new():
            if r.get("kind") != "fault" or not isinstance(r.get("wall"), int | float):
                continue
            key = (str(r.get("name")), str(r.get("target")))
            if r.get("phase") == "inject":
                injected.append(FaultSeen(*key, float(r["wall"])))
                self.faults.append(injected[-1])
            elif r.get("phase") == "heal":
                undone += self._undo([f for f in self.faults if (f.name, f.target) == key], float(r["wall"]))
        held = ledger_entries(self.ledger)
        if held is not None:
            for f in self.faults:
                f.ledgered = f.ledgered or (f.name, f.target) in held
            undone += self._undo([f for f in self.faults if f.ledgered and (f.name, f.target) not in held], now)
        return injected, undone

    @staticmethod
    def _undo(faults: list[FaultSeen], wall: float) -> list[FaultSeen]:
        done = [f for f in faults if f.undone_wall is None]
        for f in done:
            f.undone_wall = wall
        return done

    def in_force(self) -> FaultSeen | None:
        """The newest fault not yet undone, else None."""
        return next((f for f in reversed(self.faults) if f.undone_wall is None), None)

    def last(self) -> FaultSeen | None:
        return self.faults[-1] if self.faults else None


def ledger_entries(path: Path) -> set[tuple[str, str]] | None:
    """(kind, target) of every fault the stack's ledger holds, read without its lock (the ledger is
    replaced atomically); None when it cannot be read."""
    try:
        data = json.loads(path.read_text()) if path.exists() else []
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(data, list):
        return None
    return {(str(e.get("kind")), str(e.get("target"))) for e in data if isinstance(e, dict)}


def last_roles(path: Path) -> dict[str, str]:
    """The newest sample of roles.jsonl (member -> role), read from the end of the file."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 4096))
            lines = fh.read().splitlines()
    except OSError:
        return {}
    for line in reversed(lines):
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        members = record.get("members") if isinstance(record, dict) else None
        if isinstance(members, dict):
            return {str(k): str(v) for k, v in members.items()}
    return {}
