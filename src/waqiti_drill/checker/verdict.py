"""Assembles the result: RTO per shard, RPO tallies per shard and function, pass/fail and problems.

A service's figures are its worst shard's (a Redis cluster is down for the keys of any shard that is
down), and every failure becomes one readable problem line, so a FAIL always says why.
"""

from __future__ import annotations

import numpy as np

from waqiti_drill.checker.load import OK, READ, Fault, History
from waqiti_drill.checker.report import Clock, seconds
from waqiti_drill.checker.result import (
    BalanceTotal,
    CheckResult,
    FaultEvent,
    FaultSeen,
    FunctionResult,
    GapWindow,
    ReadCounts,
    ServiceResult,
    ShardResult,
)
from waqiti_drill.checker.rpo import Judgement, Tally
from waqiti_drill.checker.rto import Gap, Outage, longest_gap, outage
from waqiti_drill.config import Targets
from waqiti_drill.timefmt import utc_iso

NO_OUTAGE = Outage(rto_seconds=0.0, affected=0, began=None, recovered=None)
OUTAGE_FIELDS = ("rto_seconds", "outage", "affected_writes", "outage_began_at", "outage_began_seconds",
                 "recovered_at", "recovered_seconds")


def assess(history: History, fault: Fault, judgement: Judgement, targets: Targets, slow_seconds: float,
           mode: str) -> CheckResult:
    clock = Clock(mono=fault.mono, wall=fault.wall)
    problems: list[str] = []
    names = sorted({g[0] for g in history.groups} | {s for s, _ in judgement.unattributed})
    services = {name: _service(history, judgement, name, clock, fault, targets, slow_seconds, mode, problems)
                for name in names}
    rtos = [s.rto_seconds for s in services.values()]
    return CheckResult(
        history=str(history.path), files=[str(f) for f in history.files], operations=history.operations,
        incomplete=history.incomplete,
        fault=FaultSeen(name=fault.name, target=fault.target, injected_at=utc_iso(fault.wall), wall=fault.wall,
                        mono=fault.mono, detail=fault.detail, where=fault.where),
        faults=[FaultEvent(name=f.name, target=f.target, phase=f.phase, at=utc_iso(f.wall), wall=f.wall, mono=f.mono,
                           seconds=clock.seconds(f.mono)) for f in sorted(history.faults, key=lambda f: f.mono)],
        mode=mode, slow_seconds=slow_seconds,
        targets=Targets(rto_seconds=float(targets.rto_seconds), rpo_seconds=float(targets.rpo_seconds)),
        services=services,
        rto_seconds=None if None in rtos else max((r for r in rtos if r is not None), default=0.0),
        rpo_seconds=max((s.rpo_seconds for s in services.values()), default=0.0),
        acked_writes=sum(s.acked_writes for s in services.values()),
        lost_writes=sum(s.lost for s in services.values()),
        passed=not problems and all(s.passed for s in services.values()),
        problems=problems,
    )


def _service(history: History, judgement: Judgement, name: str, clock: Clock, fault: Fault, targets: Targets,
             slow_seconds: float, mode: str, problems: list[str]) -> ServiceResult:
    write_groups = [gi for gi, g in enumerate(history.groups) if g[0] == name and history.kinds[gi] != READ]
    shards = _shards(history, judgement, name, write_groups, clock, fault, targets, slow_seconds, mode, problems)
    functions = _functions(history, judgement, name, write_groups, fault, mode, problems)
    w = history.writes
    gap = longest_gap(w.comp_mono[np.isin(w.group, write_groups) & (w.outcome == OK)])
    tally = Tally.merge(judgement.groups[gi] for gi in write_groups)
    tally.unexpected += sum(v for (s, _), v in judgement.unattributed.items() if s == name)
    worst = _worst(shards)
    # The service's RPO is the worst of its shards' and functions' (in restore mode they can differ).
    rpo = max([s.rpo_seconds for s in shards.values()] + [f.rpo_seconds for f in functions.values()], default=0.0)
    if rpo > targets.rpo_seconds and not any(s.rpo_seconds > targets.rpo_seconds for s in shards.values()):
        problems.append(f"{name}: RPO {rpo:.1f}s > target {targets.rpo_seconds:g}s")
    reads = [history.counts[gi] for gi, g in enumerate(history.groups) if g[0] == name and history.kinds[gi] == READ]
    scope = _scope(NO_OUTAGE, gap, tally, rpo, clock)
    service = ServiceResult(**vars(scope), worst_shard=worst, shards=shards, functions=functions,
                            reads=ReadCounts(ok=sum(c[0] for c in reads), fail=sum(c[1] for c in reads),
                                             info=sum(c[2] for c in reads)))
    if worst is not None:  # the service's outage is its worst shard's, exactly as that shard reports it
        for key in OUTAGE_FIELDS:
            setattr(service, key, getattr(shards[worst], key))
    service.passed = (all(s.passed for s in shards.values()) and service.rto_seconds is not None
                      and service.rto_seconds <= targets.rto_seconds and rpo <= targets.rpo_seconds
                      and tally.unexpected == 0 and tally.failed_present == 0)
    invariant = history.invariants.get(name)
    if invariant is not None:
        value, expected, _where = invariant
        service.balance_total = BalanceTotal(value=value, expected=expected)
        if value != expected:
            problems.append(f"{name}: the accounts' balances sum to {value}, not {expected}: a transfer was applied "
                            "in part")
            service.passed = False
    return service


def _shards(history: History, judgement: Judgement, name: str, write_groups: list[int], clock: Clock, fault: Fault,
            targets: Targets, slow_seconds: float, mode: str, problems: list[str]) -> dict[str, ShardResult]:
    """RTO, gap and RPO of each shard, from the writes routed to it."""
    w = history.writes
    shards: dict[str, ShardResult] = {}
    for shard in sorted({history.groups[gi][1] for gi in write_groups}):
        members = [gi for gi in write_groups if history.groups[gi][1] == shard]
        rows = np.isin(w.group, members)
        found = outage(w.inv_mono[rows], w.comp_mono[rows], w.outcome[rows], fault.mono, slow_seconds,
                       w.interrupted[rows], judgement.lost[rows])
        gap = longest_gap(w.comp_mono[rows & (w.outcome == OK)])
        tally = Tally.merge(judgement.groups[gi] for gi in members)
        scope = _scope(found, gap, tally, tally.rpo_seconds(fault.wall, mode), clock)
        label = name if shard == name else f"{name} shard {shard}"
        scope.passed = _judge_scope(label, scope, targets, problems)
        shards[shard] = scope
    return shards


def _functions(history: History, judgement: Judgement, name: str, write_groups: list[int], fault: Fault, mode: str,
               problems: list[str]) -> dict[str, FunctionResult]:
    """Counts and RPO per write function, with the data read back that no operation accounts for."""
    functions: dict[str, FunctionResult] = {}
    names = {history.groups[gi][2] for gi in write_groups} | {f for s, f in judgement.unattributed if s == name}
    for f in sorted(names):
        tally = Tally.merge(judgement.groups[gi] for gi in write_groups if history.groups[gi][2] == f)
        tally.unexpected += judgement.unattributed.get((name, f), 0)
        functions[f] = FunctionResult(**_counts(tally), rpo_seconds=seconds(tally.rpo_seconds(fault.wall, mode)))
        _anomalies(name, f, tally, problems)
    return functions


def _worst(shards: dict[str, ShardResult]) -> str | None:
    """The shard that never recovered, else the one with the longest RTO, then the most affected writes
    (first by name on a tie)."""
    if not shards:
        return None
    never = [name for name, s in shards.items() if s.rto_seconds is None]
    if never:
        return never[0]
    order = list(shards)
    return max(order, key=lambda name: (shards[name].rto_seconds or 0.0, shards[name].affected_writes,
                                        -order.index(name)))


def _counts(tally: Tally) -> dict[str, int]:
    return {"acked_writes": tally.acked, "failed": tally.failed, "info": tally.info, "incomplete": tally.incomplete,
            "lost": tally.lost, "recovered": tally.recovered, "unexpected": tally.unexpected,
            "failed_present": tally.failed_present}


def _scope(found: Outage, gap: Gap | None, tally: Tally, rpo: float, clock: Clock) -> ShardResult:
    return ShardResult(
        **_counts(tally),
        rto_seconds=None if found.rto_seconds is None else seconds(found.rto_seconds),
        outage=found.outage, affected_writes=found.affected,
        outage_began_at=None if found.began is None else clock.iso(found.began),
        outage_began_seconds=None if found.began is None else clock.seconds(found.began),
        recovered_at=None if found.recovered is None else clock.iso(found.recovered),
        recovered_seconds=None if found.recovered is None else clock.seconds(found.recovered),
        longest_write_gap_seconds=None if gap is None else seconds(gap.seconds),
        longest_write_gap=None if gap is None else GapWindow(
            start_seconds=clock.seconds(gap.start), end_seconds=clock.seconds(gap.end), start_at=clock.iso(gap.start),
            end_at=clock.iso(gap.end)),
        rpo_seconds=seconds(rpo), passed=True)


def _judge_scope(label: str, scope: ShardResult, targets: Targets, problems: list[str]) -> bool:
    """A shard passes when it recovered within the RTO, lost no more than the RPO and holds no data it
    should not; each miss is one problem line."""
    before = len(problems)
    rto = scope.rto_seconds
    if rto is None:
        began = scope.outage_began_seconds
        problems.append(f"{label}: no acknowledged write after the outage began (at {scope.outage_began_at}, "
                        f"{began if began is not None else 0.0:+.1f}s from the fault)")
    elif rto > targets.rto_seconds:
        problems.append(f"{label}: RTO {rto:.1f}s > target {targets.rto_seconds:g}s")
    if scope.rpo_seconds > targets.rpo_seconds:
        problems.append(f"{label}: RPO {scope.rpo_seconds:.1f}s > target {targets.rpo_seconds:g}s "
                        f"({scope.lost} acknowledged writes lost)")
    # Unexpected and failed-but-present data are reported once, per function, by _anomalies.
    return len(problems) == before and scope.unexpected == 0 and scope.failed_present == 0


WHAT = {"transfer": "transfer(s)", "session": "session key(s)", "incr": "counter increment(s)"}


def _anomalies(service: str, f: str, tally: Tally, problems: list[str]) -> None:
    what = WHAT.get(f, f"{f} write(s)")
    if tally.unexpected:
        detail = " (final values above the ok + info increments)" if f == "incr" else ""
        problems.append(f"{service}: {tally.unexpected} {what} present after the final read that were never "
                        f"invoked{detail}")
    if tally.failed_present:
        problems.append(f"{service}: {tally.failed_present} {what} recorded as failed are present after the "
                        "final read")
