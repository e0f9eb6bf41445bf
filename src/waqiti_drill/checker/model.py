"""The shapes of a parsed history: compact columns of writes, the fault records, the final read-back.

The constants and dataclasses shared by the parser (parse.py), the readers (load.py) and the judges
(rto.py, rpo.py, verdict.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

OK, FAIL, INFO = 0, 1, 2
OUTCOMES = {"ok": OK, "fail": FAIL, "info": INFO}
# Function kinds, so the hot loop compares small ints instead of strings.
READ, TRANSFER, SESSION, INCR = 0, 1, 2, 3
FUNCTION_KINDS = {"transfer": TRANSFER, "session": SESSION, "incr": INCR}
FAULT_PHASES = ("inject", "heal")
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1  # tids and counter values are kept as int64
OP_FIELDS = ("id", "service", "shard", "type", "f", "wall", "mono")


@dataclass(frozen=True)
class Fault:
    name: str
    target: str
    phase: str
    wall: float
    mono: float
    detail: dict[str, Any]
    where: str


@dataclass(frozen=True)
class Writes:
    """One row per write operation (completed or left open), as parallel numpy columns.

    `num` is the transfer's tid, the session key's index in History.session_keys, or the counter's
    index in History.counter_keys; `result` is an ok incr's counter value (0 otherwise). An operation
    never completed has outcome INFO, comp_mono +inf and comp_wall NaN.
    """

    group: np.ndarray
    file: np.ndarray
    line: np.ndarray
    inv_mono: np.ndarray
    inv_wall: np.ndarray
    comp_mono: np.ndarray
    comp_wall: np.ndarray
    outcome: np.ndarray
    num: np.ndarray
    result: np.ndarray
    interrupted: np.ndarray  # 1 for an info the harness caused by stopping the load (value.interrupted)


@dataclass
class History:
    path: Path
    files: list[Path]
    groups: list[tuple[str, str, str]]  # (service, shard, f), indexed by Writes.group
    kinds: list[int]  # function kind of each group
    counts: list[list[int]]  # [ok, fail, info] per group, reads included
    writes: Writes
    session_keys: list[str]
    counter_keys: list[tuple[str, str]]  # (service, key)
    operations: int
    incomplete: int
    faults: list[Fault]
    present_tids: dict[str, np.ndarray]  # service -> tids read back
    present_sessions: dict[str, set[str]]  # service -> session keys read back
    counters: dict[tuple[str, str], tuple[int, str]]  # (service, key) -> (final value, where)
    final_done: set[str]
    invariants: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # service -> (value, expected, where)
    final_done_wall: float | None = None  # epoch: the last final_done record (the read-back finished)

    def where(self, row: int) -> str:
        """file:line of a write's invoke, for messages about a particular operation."""
        return f"{self.files[int(self.writes.file[row])]}:{int(self.writes.line[row])}"
