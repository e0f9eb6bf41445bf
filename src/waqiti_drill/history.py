"""The operation history: the one plain-data shape joining workload, faults, final read and checker.

A run's history is a set of JSON-lines files (one per writer process: each Locust process, the fault
injector, the final read). Every line is one record with a "kind":

    {"kind": "op", "id": "w1:42", "proc": "w1-u3", "service": "postgres", "shard": "postgres",
     "type": "invoke", "f": "transfer", "wall": 1764093600.123456, "mono": 5123.000001, "value": {...}}
    {"kind": "fault", "name": "primary_freeze", "target": "pg1", "phase": "inject", "wall": ..., "mono": ...}
    {"kind": "final", "service": "postgres", "shard": "postgres", "f": "transfer", "present": [17, 18, ...]}
    {"kind": "final", "service": "redis", "shard": "127.0.0.1:25501", "f": "incr", "key": "c:3", "value": 41}
    {"kind": "final_done", "wall": ..., "mono": ...}

What each function carries (the checker relies on exactly these shapes):

    transfer (postgres, write): invoke value {"tid": int, "from": int, "to": int, "amount": int}; tid is
        unique in the run. final: {"f": "transfer", "present": [tid, ...]}, in chunks.
    balance (postgres, read): invoke value {"account": int}; ok value {"balance": int}.
    session (redis, write): invoke value {"key": "s:<proc>:<seq>"} (the key without its run prefix);
        shard is the node that owned the key's slot when the run began. final: {"f": "session",
        "present": [key, ...]}, in chunks.
    incr (redis, write): invoke value {"key": "c:<n>"}; ok value {"result": int} (the counter after the
        increment). final: {"f": "incr", "key": "c:<n>", "value": int} (0 when the key is missing).
    final_done lists the services read back: {"kind": "final_done", "services": ["postgres", "redis"], ...}.

An operation is an `invoke` followed by exactly one completion with the same id: `ok` (acknowledged),
`fail` (certainly not applied) or `info` (unknown outcome: timeouts, lost connections), as in Jepsen.
An `info` whose value has `"interrupted": true` was cut short by the harness stopping the load (the
user's greenlet ended mid-operation): unknown for RPO, but no evidence of an outage for RTO.
`wall` is time.time() and `mono` time.monotonic(), which is system-wide on Linux and so comparable
between the processes of one machine; durations are always computed on `mono`.

Writers buffer (no fsync per operation) but never drop: a failed write raises, and `close()` flushes
and fsyncs once.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import orjson

OpType = Literal["invoke", "ok", "fail", "info"]
FaultPhase = Literal["inject", "heal"]

# Functions that change data, and so count for RTO and RPO; the rest are reads.
WRITE_FUNCTIONS = frozenset({"transfer", "session", "incr"})
HISTORY_GLOB = "*.jsonl"


class HistoryError(ValueError):
    """A history file is unusable; the message names the file and line."""


@dataclass(frozen=True)
class FaultRecord:
    """The instant a fault took effect (or was healed), what it hit, taken by the injector itself."""

    name: str
    target: str
    phase: FaultPhase
    wall: float
    mono: float
    detail: dict[str, Any] = field(default_factory=dict)
    kind: str = "fault"

    @classmethod
    def now(cls, name: str, target: str, phase: FaultPhase, **detail: Any) -> FaultRecord:
        return cls(name=name, target=target, phase=phase, wall=time.time(), mono=time.monotonic(), detail=detail)


class HistoryWriter:
    """Appends records to one JSON-lines file, buffered; every failure to write raises.

    orjson and a binary buffer keep the cost per record to a couple of microseconds, so recording
    does not slow the load it records (see benchmarks/bench_ledger.py).
    """

    def __init__(self, path: Path, buffer_bytes: int = 1 << 20) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fh: IO[bytes] = open(path, "ab", buffering=buffer_bytes)  # noqa: SIM115
        self.count = 0

    def write(self, record: FaultRecord | dict[str, Any]) -> None:
        data = record if isinstance(record, dict) else asdict(record)
        self._fh.write(orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE))
        self.count += 1

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        if self._fh.closed:
            return
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


FAULTS_FILE = "faults.jsonl"


def record_fault(history_dir: Path, name: str, target: str, phase: FaultPhase, **detail: Any) -> FaultRecord:
    """Take the fault's instant now and append it to <history_dir>/faults.jsonl, fsynced at once
    (a fault record must survive a crash of whoever injected the fault)."""
    record = FaultRecord.now(name, target, phase, **detail)
    with HistoryWriter(history_dir / FAULTS_FILE) as out:
        out.write(record)
    return record


def history_files(path: Path) -> list[Path]:
    """A run directory's history files (sorted), or the single file given."""
    if path.is_dir():
        files = sorted(path.glob(HISTORY_GLOB))
        if not files:
            raise HistoryError(f"{path}: no history files ({HISTORY_GLOB})")
        return files
    if not path.exists():
        raise HistoryError(f"{path}: no such file or directory")
    return [path]
