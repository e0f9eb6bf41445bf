"""Where `drill run`'s live view gets its data: files the run directory fills as the scenarios go.

The parent process only reads: <run>/progress.jsonl (scenario n of N and the step, from the pytest side,
suite/progress.py), each scenario's history/faults.jsonl (the fault's own instant), the stack's fault
ledger (what is injected and not yet undone), roles.jsonl (the role sampler) and the operation history
(writes and errors per service, as the clients saw them). Nothing here talks to a server.

Each reader keeps an offset and reads only what is new, so a poll every half second costs a few small
reads. The operation history and the fault records are read by the checker's own incremental tail
(checker.load.HistoryTail), so the live figures and the checker's can never parse a record differently.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from waqiti_drill.checker.load import HistoryTail, WriteCounts
from waqiti_drill.errors import InvalidHistory
from waqiti_drill.history import FAULTS_FILE

RATE_WINDOW = 3.0  # writes/s over about this many seconds (the load flushes its history every second or so)


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


@dataclass
class Rate:
    ok_per_second: float
    errors_per_second: float  # failed or unknown
    ok_total: int
    errors_total: int
    open_for: float | None = None  # seconds the oldest write still open has waited (None: none open)


class LiveWrites:
    """Writes and errors per second per service, over the last RATE_WINDOW seconds, from the history
    module's incremental tail (checker.load.HistoryTail: the checker's own parser, fed only what was
    appended since the last poll); the rates are differences of its running counts between polls."""

    def __init__(self, history_dir: Path) -> None:
        self.tail = HistoryTail(history_dir)
        self.samples: deque[tuple[float, dict[str, WriteCounts]]] = deque()
        self.unreadable: str | None = None  # why the history could not be read, once it could not

    def poll(self, now: float, now_mono: float) -> dict[str, Rate]:
        try:
            counts = self.tail.poll().services
        except InvalidHistory as exc:  # the checker will refuse it too; the view says so and keeps going
            self.unreadable = str(exc).splitlines()[0]
            counts = self.samples[-1][1] if self.samples else {}
        self.samples.append((now, counts))
        while len(self.samples) > 2 and self.samples[1][0] <= now - RATE_WINDOW:
            self.samples.popleft()
        since, before = self.samples[0]
        span = now - since
        rates = {}
        for service, c in sorted(counts.items()):
            b = before.get(service, WriteCounts())
            ok = (c.acked - b.acked) / span if span > 0 else 0.0
            bad = ((c.failed + c.unknown) - (b.failed + b.unknown)) / span if span > 0 else 0.0
            waited = now_mono - c.oldest_open_mono if c.oldest_open_mono is not None else None
            rates[service] = Rate(ok, bad, c.acked, c.failed + c.unknown, waited)
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
    record, for the faults that write one) says when it was undone.

    The records are read by the checker's own incremental tail (checker.load.HistoryTail, on faults.jsonl
    only), so the live view and the checker parse a fault record the same way."""

    def __init__(self, history_dir: Path, state_dir: Path) -> None:
        self.records = HistoryTail(history_dir, FAULTS_FILE)
        self.seen = 0  # fault records of the tail already folded in
        self.unreadable: str | None = None  # why the fault records could not be read, once they could not
        self.ledger = state_dir / "faults" / "active.json"
        self.faults: list[FaultSeen] = []

    def poll(self, now: float) -> tuple[list[FaultSeen], list[FaultSeen]]:
        """(faults injected since the last poll, faults undone since the last poll)."""
        injected: list[FaultSeen] = []
        undone: list[FaultSeen] = []
        try:
            self.records.poll()
        except InvalidHistory as exc:  # the checker will refuse it too; the view says so and keeps going
            self.unreadable = str(exc).splitlines()[0]
        new = self.records.loader.faults[self.seen:]  # those parsed before a bad line count too
        self.seen += len(new)
        for r in new:
            key = (r.name, r.target)
            if r.phase == "inject":
                injected.append(FaultSeen(*key, r.wall))
                self.faults.append(injected[-1])
            elif r.phase == "heal":
                undone += self._undo([f for f in self.faults if (f.name, f.target) == key], r.wall)
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
