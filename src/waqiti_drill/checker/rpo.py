"""RPO: which acknowledged writes the final read-back still finds, and how far back the loss reaches.

Each write is judged against the final read: a transfer or session is present when its tid or key was
read back; an acknowledged increment is present when the counter's final value is at least the value
the increment returned. Lost = acknowledged and not present; recovered = unknown outcome (info) and
present; a write recorded as failed that is present, or present data nobody invoked, is an anomaly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields

import numpy as np

from waqiti_drill.checker.load import FAIL, INCR, INFO, OK, SESSION, TRANSFER, History
from waqiti_drill.errors import InvalidHistory

MODES = ("failover", "restore")


@dataclass
class Tally:
    """What happened to the writes of one scope: a (service, shard, function) group or a union of them."""

    acked: int = 0
    failed: int = 0
    info: int = 0
    incomplete: int = 0
    lost: int = 0
    recovered: int = 0
    unexpected: int = 0
    failed_present: int = 0
    acked_before_fault: int = 0
    oldest_lost_ack: float = math.inf  # wall
    newest_present_ack: float = -math.inf  # wall, among writes acknowledged at or before the fault
    first_invoke: float = math.inf  # wall

    @classmethod
    def merge(cls, parts: Iterable[Tally]) -> Tally:
        total = cls()
        for part in parts:
            for f in fields(cls):
                a, b = getattr(total, f.name), getattr(part, f.name)
                if f.name in ("oldest_lost_ack", "first_invoke"):
                    setattr(total, f.name, min(a, b))
                elif f.name == "newest_present_ack":
                    setattr(total, f.name, max(a, b))
                else:
                    setattr(total, f.name, a + b)
        return total

    def rpo_seconds(self, fault_wall: float, mode: str) -> float:
        """Failover: back to the oldest lost acknowledgement. Restore: back to the newest acknowledgement
        (made before the fault) that survived; writes acknowledged after the fault, e.g. against the
        restored database, say nothing about the recovery point. Never negative."""
        if mode == "failover":
            return max(0.0, fault_wall - self.oldest_lost_ack) if self.lost else 0.0
        if self.newest_present_ack > -math.inf:
            return max(0.0, fault_wall - self.newest_present_ack)
        if self.acked_before_fault:
            return max(0.0, fault_wall - self.first_invoke)  # every acknowledged write is gone
        return 0.0


@dataclass
class Judgement:
    groups: list[Tally]  # indexed like History.groups
    unattributed: dict[tuple[str, str], int]  # (service, f) -> unexpected data with no shard (never invoked)
    lost: np.ndarray  # per write row (History.writes): acknowledged and not found by the final read


def judge(history: History, fault_mono: float) -> Judgement:
    """Tally every write group against the final read; raises InvalidHistory on a duplicate tid or key
    or a counter the read-back lacks."""
    w = history.writes
    n = len(w.group)
    kinds = np.asarray(history.kinds, dtype=np.int8)[w.group] if n else np.empty(0, np.int8)
    services = sorted({g[0] for g in history.groups})
    service_ids = np.asarray([services.index(g[0]) for g in history.groups], dtype=np.int32)
    row_service = service_ids[w.group] if n else np.empty(0, np.int32)
    present = np.zeros(n, dtype=bool)
    lost = np.zeros(n, dtype=bool)
    extra_recovered = np.zeros(len(history.groups), dtype=np.int64)
    extra_unexpected = np.zeros(len(history.groups), dtype=np.int64)
    unattributed: dict[tuple[str, str], int] = {}
    all_services = sorted(set(services) | set(history.present_tids) | set(history.present_sessions)
                          | {s for s, _ in history.counters})
    for service in all_services:
        si = services.index(service) if service in services else -1
        in_service = row_service == si
        rows = np.flatnonzero(in_service & (kinds == TRANSFER))
        if rows.size or service in history.present_tids:
            unattributed[service, "transfer"] = _transfers(history, service, rows, present)
        rows = np.flatnonzero(in_service & (kinds == SESSION))
        if rows.size or service in history.present_sessions:
            unattributed[service, "session"] = _sessions(history, service, rows, present)
        rows = np.flatnonzero(in_service & (kinds == INCR))
        if rows.size or any(s == service for s, _ in history.counters):
            unattributed[service, "incr"] = _counters(history, service, rows, present, lost,
                                                      extra_recovered, extra_unexpected)
    ok = w.outcome == OK
    by_set = (kinds == TRANSFER) | (kinds == SESSION)
    lost |= by_set & ok & ~present
    recovered = by_set & (w.outcome == INFO) & present
    failed_present = by_set & (w.outcome == FAIL) & present
    before_fault = ok & (w.comp_mono <= fault_mono)
    tallies = []
    for gi in range(len(history.groups)):
        rows = w.group == gi
        ok_count, fail_count, info_count = history.counts[gi]
        lost_g = lost & rows
        present_before = present & before_fault & rows
        tallies.append(Tally(
            acked=ok_count, failed=fail_count, info=info_count,
            incomplete=int(np.count_nonzero(rows & np.isinf(w.comp_mono))),
            lost=int(np.count_nonzero(lost_g)),
            recovered=int(np.count_nonzero(recovered & rows)) + int(extra_recovered[gi]),
            unexpected=int(extra_unexpected[gi]),
            failed_present=int(np.count_nonzero(failed_present & rows)),
            acked_before_fault=int(np.count_nonzero(before_fault & rows)),
            oldest_lost_ack=float(w.comp_wall[lost_g].min()) if lost_g.any() else math.inf,
            newest_present_ack=float(w.comp_wall[present_before].max()) if present_before.any() else -math.inf,
            first_invoke=float(w.inv_wall[rows].min()) if rows.any() else math.inf,
        ))
    return Judgement(groups=tallies, unattributed=unattributed, lost=lost)


def _first_two(history: History, rows: np.ndarray) -> tuple[str, str]:
    """file:line of the first two of some rows, in file order (rows are stored in completion order)."""
    order = np.lexsort((history.writes.line[rows], history.writes.file[rows]))
    return history.where(int(rows[order[0]])), history.where(int(rows[order[1]]))


def _transfers(history: History, service: str, rows: np.ndarray, present: np.ndarray) -> int:
    tids = history.writes.num[rows]
    unique, counts = np.unique(tids, return_counts=True)
    if unique.size != tids.size:
        dup = int(unique[counts > 1][0])
        first, second = _first_two(history, rows[tids == dup])
        raise InvalidHistory(f"{second}: transfer tid {dup} invoked again (first at {first}); tids are unique in a run")
    read_back = np.unique(history.present_tids.get(service, np.empty(0, np.int64)))
    present[rows] = np.isin(tids, read_back, assume_unique=True)
    return int(np.count_nonzero(~np.isin(read_back, unique, assume_unique=True)))


def _sessions(history: History, service: str, rows: np.ndarray, present: np.ndarray) -> int:
    names = history.session_keys
    keys = [names[i] for i in history.writes.num[rows].tolist()]
    invoked = set(keys)
    if len(invoked) != len(keys):
        dup = _first_duplicate(keys)
        first, second = _first_two(history, rows[[k == dup for k in keys]])
        raise InvalidHistory(f"{second}: session key {dup!r} invoked again (first at {first}); "
                             "keys are unique in a run")
    read_back = history.present_sessions.get(service, set())
    present[rows] = np.fromiter((k in read_back for k in keys), dtype=bool, count=len(keys))
    return len(read_back - invoked)


def _first_duplicate(keys: list[str]) -> str:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            return key
        seen.add(key)
    raise AssertionError("no duplicate")


def _returned_again(ids: np.ndarray, results: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Acknowledged increments whose result a later acknowledged increment of the same counter returned
    again: the counter went back below it (restored from a backup, say) and climbed again, so the earlier
    increment is lost even when the final value is above it. The last of each (counter, result) stands."""
    out = np.zeros(len(ids), dtype=bool)
    idx = np.flatnonzero(ok)
    if idx.size < 2:
        return out
    order = idx[np.lexsort((idx, results[idx], ids[idx]))]  # by counter, result, then history order
    same_as_next = (ids[order][:-1] == ids[order][1:]) & (results[order][:-1] == results[order][1:])
    out[order[:-1][same_as_next]] = True
    return out


def _counters(history: History, service: str, rows: np.ndarray, present: np.ndarray, lost: np.ndarray,
              extra_recovered: np.ndarray, extra_unexpected: np.ndarray) -> int:
    """Counters are judged by value: the final value V of a counter should be at least every result an
    acknowledged increment returned (else those are lost) and at most ok + info increments (else some
    increment nobody made, or one recorded as failed, is in it). Returns the unexpected increments of
    counters read back that were never incremented."""
    w = history.writes
    keys = history.counter_keys
    final = np.zeros(len(keys), dtype=np.int64)
    ids = w.num[rows]
    for cid, (svc, key) in enumerate(keys):
        if svc != service:
            continue
        if (svc, key) not in history.counters:
            first = history.where(int(rows[np.argmax(ids == cid)]))
            raise InvalidHistory(f"{first}: counter {key!r} of {service} was incremented but the final read-back "
                                 "has no value for it")
        final[cid] = history.counters[svc, key][0]
    outcome = w.outcome[rows]
    ok = outcome == OK
    value = final[ids]
    went_back = _returned_again(ids, w.result[rows], ok)
    present[rows] = ok & (w.result[rows] <= value) & ~went_back
    lost[rows] = ok & ((w.result[rows] > value) | went_back)
    ok_count = np.bincount(ids[ok], minlength=len(keys))
    info_count = np.bincount(ids[outcome == INFO], minlength=len(keys))
    recovered = np.clip(final - ok_count, 0, info_count)
    unexpected = np.maximum(final - ok_count - info_count, 0)
    # Per-counter figures belong to the group (shard) of the counter's first operation.
    used, first = np.unique(ids, return_index=True)
    owner = w.group[rows[first]]
    np.add.at(extra_recovered, owner, recovered[used])
    np.add.at(extra_unexpected, owner, unexpected[used])
    known = {keys[int(c)][1] for c in used}
    return sum(max(0, v) for (svc, key), (v, _) in history.counters.items() if svc == service and key not in known)
