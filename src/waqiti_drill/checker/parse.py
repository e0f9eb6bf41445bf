"""The one parser of the history format: streaming, strict, into compact columns.

Each writer process writes its own file in order, so an operation's invoke precedes its completion in
the same file. Pairing therefore needs only the operations still open (bounded by the writer's
concurrency), and every write is kept as one row of fixed-width columns (array.array while reading,
numpy afterwards) rather than as a dict: a million operations cost about 60 MB, not gigabytes. Reads
are only counted, since RTO and RPO are about writes.

Every line is checked; anything the checker cannot account for raises InvalidHistory naming file:line.
It is fed whole files (checker.load.load) or appended bytes as they are written (checker.load.HistoryTail).
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import orjson

from waqiti_drill.checker.model import (
    FAULT_PHASES,
    FUNCTION_KINDS,
    INCR,
    INFO,
    INT64_MAX,
    INT64_MIN,
    OK,
    OP_FIELDS,
    OUTCOMES,
    READ,
    SESSION,
    TRANSFER,
    Fault,
    History,
    Writes,
)
from waqiti_drill.errors import InvalidHistory
from waqiti_drill.history import WRITE_FUNCTIONS

CHUNK_BYTES = 1 << 22  # large reads amortise the per-call cost; only the last partial line is carried


@dataclass
class FileState:
    """Where parsing of one writer's file stands: its operations still open, the last line number, the
    partial line not yet complete."""

    path: Path
    index: int
    open_ops: dict[str, tuple[int, int, float, float, int]] = field(default_factory=dict)
    number: int = 0
    rest: bytes = b""
    offset: int = 0  # bytes of the file consumed so far (for incremental reading)


@dataclass
class _Columns:
    group: array = field(default_factory=lambda: array("i"))
    file: array = field(default_factory=lambda: array("I"))
    line: array = field(default_factory=lambda: array("I"))
    inv_mono: array = field(default_factory=lambda: array("d"))
    inv_wall: array = field(default_factory=lambda: array("d"))
    comp_mono: array = field(default_factory=lambda: array("d"))
    comp_wall: array = field(default_factory=lambda: array("d"))
    outcome: array = field(default_factory=lambda: array("b"))
    num: array = field(default_factory=lambda: array("q"))
    result: array = field(default_factory=lambda: array("q"))
    interrupted: array = field(default_factory=lambda: array("b"))

    def to_numpy(self) -> Writes:
        dtypes = {"i": np.int32, "I": np.uint32, "d": np.float64, "b": np.int8, "q": np.int64}
        return Writes(**{name: np.frombuffer(col, dtype=dtypes[col.typecode]) if len(col) else
                         np.empty(0, dtype=dtypes[col.typecode]) for name, col in vars(self).items()})


def _number(value: object) -> bool:
    return type(value) is float or type(value) is int


class Loader:
    def __init__(self) -> None:
        self.cols = _Columns()
        self.group_index: dict[tuple[str, str, str], int] = {}
        self.groups: list[tuple[str, str, str]] = []
        self.kinds: list[int] = []
        self.counts: list[list[int]] = []
        self.session_keys: list[str] = []
        self.counter_index: dict[tuple[str, str], int] = {}
        self.incomplete = 0
        self.faults: list[Fault] = []
        self.present_tids: dict[str, array] = {}
        self.present_sessions: dict[str, set[str]] = {}
        self.counters: dict[tuple[str, str], tuple[int, str]] = {}
        self.final_done: set[str] = set()
        self.final_done_wall: float | None = None
        self.invariants: dict[str, tuple[int, int, str]] = {}

    def finish(self, path: Path, files: list[Path]) -> History:
        return History(
            path=path, files=files, groups=self.groups, kinds=self.kinds, counts=self.counts,
            writes=self.cols.to_numpy(), session_keys=self.session_keys,
            counter_keys=list(self.counter_index), operations=sum(map(sum, self.counts)),
            incomplete=self.incomplete,
            faults=self.faults,
            present_tids={s: np.frombuffer(a, dtype=np.int64) if len(a) else np.empty(0, np.int64)
                          for s, a in self.present_tids.items()},
            present_sessions=self.present_sessions, counters=self.counters, final_done=self.final_done,
            invariants=self.invariants, final_done_wall=self.final_done_wall,
        )

    def load_file(self, path: Path, file_index: int) -> None:
        """Read one writer's whole file."""
        state = FileState(path, file_index)
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK_BYTES):
                self.feed(state, chunk)
        self.end_file(state)

    def feed(self, state: FileState, chunk: bytes) -> None:
        """Parse the complete lines of `chunk` (appended to what was fed before); the last partial line is
        carried to the next call. Used whole-file by `load` and incrementally by HistoryTail."""
        lines = (state.rest + chunk).split(b"\n") if state.rest else chunk.split(b"\n")
        state.rest = lines.pop()
        state.number = self._lines(state.path, state.index, state.open_ops, lines, state.number)

    def end_file(self, state: FileState) -> None:
        if state.rest:
            _fail(f"{state.path}:{state.number + 1}: truncated line (no newline at end of file)")
        self._close_file(state.open_ops, state.index)

    def _lines(self, path: Path, file_index: int, open_ops: dict[str, tuple[int, int, float, float, int]],
               lines: list[bytes], number: int) -> int:
        """The hot loop, deliberately flat, with bound methods in locals: it runs two million times for a
        million operations. Returns the number of the last line parsed."""
        loads = orjson.loads
        decode_error = orjson.JSONDecodeError
        group_index = self.group_index
        groups = self.groups
        kinds = self.kinds
        counts = self.counts
        session_append = self.session_keys.append
        session_keys = self.session_keys
        counter_index = self.counter_index
        outcomes = OUTCOMES
        c = self.cols
        a_group, a_file, a_line = c.group.append, c.file.append, c.line.append
        a_imono, a_iwall = c.inv_mono.append, c.inv_wall.append
        a_cmono, a_cwall = c.comp_mono.append, c.comp_wall.append
        a_outcome, a_num, a_result = c.outcome.append, c.num.append, c.result.append
        a_interrupted = c.interrupted.append
        first = number + 1
        for number, line in enumerate(lines, first):  # noqa: B007 - the last number is returned
            try:
                rec = loads(line)
            except decode_error as exc:
                raise InvalidHistory(f"{path}:{number}: not valid JSON ({exc})") from None
            kind = rec.get("kind") if type(rec) is dict else None
            if kind != "op":
                self._other(rec, kind, f"{path}:{number}")
                continue
            try:
                op_id = rec["id"]
                typ = rec["type"]
                mono = rec["mono"]
                wall = rec["wall"]
                key = (rec["service"], rec["shard"], rec["f"])
            except KeyError:
                _lacks(rec, "op", OP_FIELDS, f"{path}:{number}")
            if type(op_id) is not str:
                _fail(f"{path}:{number}: operation id must be a string, got {op_id!r}")
            if not (type(mono) is float or type(mono) is int) or not (type(wall) is float or type(wall) is int):
                _fail(f"{path}:{number}: op record's wall and mono must be numbers")
            if typ == "invoke":
                if op_id in open_ops:
                    _fail(f"{path}:{number}: second invoke of operation {op_id!r} "
                          f"(invoked at line {open_ops[op_id][0]} and not yet completed)")
                gi = group_index.get(key)
                if gi is None:
                    gi = self._new_group(key, f"{path}:{number}")
                fk = kinds[gi]
                num = 0
                if fk:
                    value = rec.get("value")
                    if type(value) is not dict:
                        _fail(f"{path}:{number}: {key[2]} invoke lacks its value object")
                    if fk == TRANSFER:
                        num = value.get("tid")
                        if type(num) is not int or not INT64_MIN <= num <= INT64_MAX:
                            _fail(f"{path}:{number}: transfer invoke needs an integer value.tid, got {num!r}")
                    else:
                        name = value.get("key")
                        if type(name) is not str:
                            _fail(f"{path}:{number}: {key[2]} invoke needs a string value.key, got {name!r}")
                        if fk == SESSION:
                            num = len(session_keys)
                            session_append(name)
                        else:
                            ck = (key[0], name)
                            num = counter_index.get(ck)
                            if num is None:
                                num = counter_index[ck] = len(counter_index)
                open_ops[op_id] = (number, gi, mono, wall, num)
                continue
            code = outcomes.get(typ) if type(typ) is str else None
            if code is None:
                _fail(f"{path}:{number}: unknown operation type {typ!r}")
            inv = open_ops.pop(op_id, None)
            if inv is None:
                _orphan(path, number, op_id, typ)
            gi = inv[1]
            if groups[gi] != key:
                _fail(f"{path}:{number}: completion of {op_id!r} is for {'/'.join(map(str, key))} but its "
                      f"invoke at line {inv[0]} was for {'/'.join(groups[gi])} (service/shard/f)")
            counts[gi][code] += 1
            fk = kinds[gi]
            if fk:
                result = 0
                if fk == INCR and code == OK:
                    value = rec.get("value")
                    result = value.get("result") if type(value) is dict else None
                    if type(result) is not int or not INT64_MIN <= result <= INT64_MAX:
                        _fail(f"{path}:{number}: ok incr needs an integer value.result, got {result!r}")
                a_group(gi)
                a_file(file_index)
                a_line(inv[0])
                a_imono(inv[2])
                a_iwall(inv[3])
                a_cmono(mono)
                a_cwall(wall)
                a_outcome(code)
                a_num(inv[4])
                a_result(result)
                if code == INFO:
                    value = rec.get("value")
                    a_interrupted(1 if type(value) is dict and value.get("interrupted") is True else 0)
                else:
                    a_interrupted(0)
        return number

    def _close_file(self, open_ops: dict[str, tuple[int, int, float, float, int]], file_index: int) -> None:
        """Operations still open at the end of their writer's file have an unknown outcome: info."""
        c = self.cols
        for line, gi, mono, wall, num in open_ops.values():
            self.counts[gi][INFO] += 1
            self.incomplete += 1
            if self.kinds[gi]:
                c.group.append(gi)
                c.file.append(file_index)
                c.line.append(line)
                c.inv_mono.append(mono)
                c.inv_wall.append(wall)
                c.comp_mono.append(math.inf)
                c.comp_wall.append(math.nan)
                c.outcome.append(INFO)
                c.num.append(num)
                c.result.append(0)
                c.interrupted.append(0)

    def _new_group(self, key: tuple[str, str, str], where: str) -> int:
        service, shard, f = key
        for name, value in zip(("service", "shard", "f"), key, strict=True):
            if type(value) is not str:
                _fail(f"{where}: op record's {name} must be a string, got {value!r}")
        self.group_index[key] = len(self.groups)
        self.groups.append(key)
        self.kinds.append(FUNCTION_KINDS.get(f, READ))
        self.counts.append([0, 0, 0])
        return len(self.groups) - 1

    def _other(self, rec: Any, kind: object, where: str) -> None:
        if kind == "fault":
            self._fault(rec, where)
        elif kind == "final":
            self._final(rec, where)
        elif kind == "final_done":
            _require(rec, "final_done", ("wall", "mono"), where)
            services = rec.get("services")
            if type(services) is not list or not all(type(s) is str for s in services):
                _fail(f"{where}: final_done needs a list of service names, got {services!r}")
            self.final_done.update(services)
            if _number(rec["wall"]):  # when the read-back finished (the evidence's "data validated")
                wall = float(rec["wall"])
                self.final_done_wall = wall if self.final_done_wall is None else max(self.final_done_wall, wall)
        else:
            _fail(f"{where}: unknown record kind {kind!r}")

    def _fault(self, rec: dict[str, Any], where: str) -> None:
        _require(rec, "fault", ("name", "target", "phase", "wall", "mono"), where)
        if rec["phase"] not in FAULT_PHASES:
            _fail(f"{where}: unknown fault phase {rec['phase']!r} (expected inject or heal)")
        if not _number(rec["wall"]) or not _number(rec["mono"]):
            _fail(f"{where}: fault record's wall and mono must be numbers")
        detail = rec.get("detail", {})
        if type(detail) is not dict:
            _fail(f"{where}: fault detail must be an object, got {detail!r}")
        self.faults.append(Fault(name=str(rec["name"]), target=str(rec["target"]), phase=rec["phase"],
                                 wall=float(rec["wall"]), mono=float(rec["mono"]), detail=detail, where=where))

    def _final(self, rec: dict[str, Any], where: str) -> None:
        _require(rec, "final", ("service", "f"), where)
        service, f = rec["service"], rec["f"]
        if type(service) is not str:
            _fail(f"{where}: final record's service must be a string, got {service!r}")
        if f == "transfer":
            present = rec.get("present")
            if type(present) is not list or not all(type(t) is int and INT64_MIN <= t <= INT64_MAX for t in present):
                _fail(f"{where}: final transfer record needs present: a list of integer tids")
            self.present_tids.setdefault(service, array("q")).extend(present)
        elif f == "session":
            present = rec.get("present")
            if type(present) is not list or not all(type(k) is str for k in present):
                _fail(f"{where}: final session record needs present: a list of key strings")
            self.present_sessions.setdefault(service, set()).update(present)
        elif f == "incr":
            key, value = rec.get("key"), rec.get("value")
            if type(key) is not str or type(value) is not int or not INT64_MIN <= value <= INT64_MAX:
                _fail(f"{where}: final incr record needs a string key and an integer value, got {key!r}, {value!r}")
            if (service, key) in self.counters:
                _fail(f"{where}: second final value for counter {key!r} (first at {self.counters[service, key][1]})")
            self.counters[service, key] = (value, where)
        elif f == "balance_total":  # transfers move money and never create it: the sum is invariant
            value, expected = rec.get("value"), rec.get("expected")
            if type(value) is not int or type(expected) is not int:
                _fail(f"{where}: final balance_total record needs integer value and expected, got {value!r}, "
                      f"{expected!r}")
            self.invariants[service] = (value, expected, where)
        else:
            _fail(f"{where}: final record for unknown function {f!r} (expected one of {sorted(WRITE_FUNCTIONS)})")


def _fail(message: str) -> NoReturn:
    raise InvalidHistory(message)


def _require(rec: dict[str, Any], kind: str, fields: tuple[str, ...], where: str) -> None:
    missing = [k for k in fields if k not in rec]
    if missing:
        _fail(f"{where}: {kind} record lacks {', '.join(missing)}")


def _lacks(rec: dict[str, Any], kind: str, fields: tuple[str, ...], where: str) -> NoReturn:
    _require(rec, kind, fields, where)
    raise AssertionError("unreachable: _lacks called on a complete record")


def _orphan(path: Path, number: int, op_id: str, typ: str) -> NoReturn:
    """A completion with no open invoke. Re-read the file up to it (rare, so memory stays bounded by
    the open operations) to tell a second completion from one that was never invoked."""
    earlier = None
    with open(path, "rb") as fh:
        for n, line in enumerate(fh, start=1):
            if n >= number:
                break
            rec = orjson.loads(line)
            if rec.get("kind") == "op" and rec.get("id") == op_id and rec.get("type") != "invoke":
                earlier = n
                break
    if earlier is not None:
        _fail(f"{path}:{number}: second completion ({typ}) of operation {op_id!r}; it already completed at "
              f"line {earlier}")
    _fail(f"{path}:{number}: completion ({typ}) of operation {op_id!r} with no invoke before it")
