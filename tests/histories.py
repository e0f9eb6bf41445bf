"""Builds small synthetic histories for checker tests, through the real HistoryWriter.

Times are seconds relative to the fault instant (negative = before it), so a test reads like the drill:
`h.op("transfer", -0.05, 5.0)` is a transfer invoked just before the fault and acknowledged 5 s after.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from waqiti_drill.history import HistoryWriter

FAULT_MONO = 1000.0
FAULT_WALL = 1_764_093_600.0  # 2025-11-25T18:00:00Z
SHARD_A, SHARD_B, SHARD_C = "127.0.0.1:25501", "127.0.0.1:25502", "127.0.0.1:25503"
SERVICE_OF = {"transfer": "postgres", "balance": "postgres", "session": "redis", "incr": "redis"}


class HistoryBuilder:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.writers: dict[str, HistoryWriter] = {}
        self.seq = itertools.count(1)
        self.tids = itertools.count(1)

    def file(self, name: str) -> Path:
        return self.root / f"{name}.jsonl"

    def write(self, name: str, record: dict[str, Any]) -> None:
        if name not in self.writers:
            self.writers[name] = HistoryWriter(self.file(name))
        self.writers[name].write(record)

    def op(self, f: str, start: float, end: float | None, outcome: str = "ok", *, proc: str = "w1",
           shard: str | None = None, service: str | None = None, value: dict[str, Any] | None = None,
           result: int | None = None, key: str | None = None, tid: int | None = None,
           interrupted: bool = False) -> dict[str, Any]:
        """One operation: invoke at `start`, completion (`outcome`) at `end`, or never when end is None.
        Returns the invoke's value (with the tid or key it was given)."""
        service = service or SERVICE_OF[f]
        shard = shard or ("postgres" if service == "postgres" else SHARD_A)
        if value is None:
            if f == "transfer":
                value = {"tid": next(self.tids) if tid is None else tid, "from": 1, "to": 2, "amount": 5}
            elif f == "session":
                value = {"key": key or f"s:{proc}:{next(self.seq)}"}
            elif f == "incr":
                value = {"key": key or "c:0"}
            else:
                value = {"account": 1}
        op_id = f"{proc}:{next(self.seq)}"
        base = {"kind": "op", "id": op_id, "proc": f"{proc}-u1", "service": service, "shard": shard, "f": f}
        self.write(proc, {**base, "type": "invoke", "wall": FAULT_WALL + start, "mono": FAULT_MONO + start,
                          "value": value})
        if end is not None:
            done = {"result": result} if result is not None else {}
            if interrupted:  # the harness stopped the user mid-operation (ops.perform)
                done = {"error": "GreenletExit", "interrupted": True}
            self.write(proc, {**base, "type": outcome, "wall": FAULT_WALL + end, "mono": FAULT_MONO + end,
                              "value": done})
        return value

    def steady(self, f: str, start: float, stop: float, every: float = 0.25, latency: float = 0.01,
               **kwargs: Any) -> list[dict[str, Any]]:
        """Fast acknowledged writes invoked every `every` seconds in [start, stop)."""
        values = []
        t = start
        while t < stop - 1e-9:
            values.append(self.op(f, t, t + latency, **kwargs))
            t += every
        return values

    def fault(self, name: str = "primary_kill", target: str = "pg1", phase: str = "inject", at: float = 0.0,
              **detail: Any) -> None:
        self.write("faults", {"kind": "fault", "name": name, "target": target, "phase": phase,
                              "wall": FAULT_WALL + at, "mono": FAULT_MONO + at, "detail": detail})

    def final_transfers(self, tids: list[int], service: str = "postgres") -> None:
        self.write("final", {"kind": "final", "service": service, "shard": "postgres", "f": "transfer",
                             "present": tids})

    def final_sessions(self, keys: list[str]) -> None:
        self.write("final", {"kind": "final", "service": "redis", "shard": SHARD_A, "f": "session", "present": keys})

    def final_counter(self, key: str, value: int) -> None:
        self.write("final", {"kind": "final", "service": "redis", "shard": SHARD_A, "f": "incr", "key": key,
                             "value": value})

    def final_done(self, *services: str) -> None:
        self.write("final", {"kind": "final_done", "services": list(services), "wall": FAULT_WALL + 100,
                             "mono": FAULT_MONO + 100})

    def build(self) -> Path:
        for writer in self.writers.values():
            writer.close()
        return self.root

