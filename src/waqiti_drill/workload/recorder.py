"""Records operations as they happen: an invoke before the call, one completion after it.

One Recorder per load process, one file per Recorder. Operation ids are '<process>:<seq>', so
histories of several processes merge without clashes. The buffer goes to the OS every FLUSH_SECONDS
(no fsync), so the harness reads the history as it grows; the fsync happens once, at close. A write that
fails is never swallowed: the error is kept in `failure` (the load process then exits non-zero) and re-raised.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from waqiti_drill.history import HistoryWriter, OpType


@dataclass
class OpHandle:
    id: str
    proc: str
    service: str
    shard: str
    f: str
    invoked_mono: float


FLUSH_SECONDS = 0.2  # how stale the file may be for live readers (abort guard, steady-state waits, progress)


class Recorder:
    def __init__(self, history_dir: Path, process: str) -> None:
        self.process = process
        self.writer = HistoryWriter(history_dir / f"ops-{process}-{os.getpid()}.jsonl")
        self._seq = itertools.count(1)
        self.failure: BaseException | None = None
        self.open_ops = 0
        self._flushed = time.monotonic()

    def next_seq(self) -> int:
        return next(self._seq)

    def _write(self, record: dict[str, Any]) -> None:
        try:
            self.writer.write(record)
        except BaseException as exc:
            self.failure = self.failure or exc
            raise

    def invoke(self, proc: str, service: str, shard: str, f: str, value: dict[str, Any]) -> OpHandle:
        op_id = f"{self.process}:{self.next_seq()}"
        mono = time.monotonic()
        self._write({"kind": "op", "id": op_id, "proc": proc, "service": service, "shard": shard,
                     "type": "invoke", "f": f, "wall": time.time(), "mono": mono, "value": value})
        self.open_ops += 1
        return OpHandle(op_id, proc, service, shard, f, mono)

    def complete(self, op: OpHandle, outcome: OpType, value: dict[str, Any] | None = None) -> float:
        """Record the completion; returns the operation's latency in seconds."""
        mono = time.monotonic()
        self._write({"kind": "op", "id": op.id, "proc": op.proc, "service": op.service, "shard": op.shard,
                     "type": outcome, "f": op.f, "wall": time.time(), "mono": mono, "value": value or {}})
        self.open_ops -= 1
        if mono - self._flushed >= FLUSH_SECONDS:  # to the OS, not to disk: live readers see it, nothing waits
            self._flushed = mono
            try:
                self.writer.flush()
            except BaseException as exc:
                self.failure = self.failure or exc
                raise
        return mono - op.invoked_mono

    def close(self) -> None:
        self.writer.close()
