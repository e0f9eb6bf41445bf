"""RTO of one shard: from the fault instant to the first acknowledged write once the outage began.

Measured from the client side only: what the writers saw, not what the platform reports about itself.
All instants are `mono` seconds; the report turns them into wall times through the fault record.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from waqiti_drill.checker.load import OK


@dataclass(frozen=True)
class Outage:
    """`rto_seconds` is None when writes were affected and none was acknowledged afterwards."""

    rto_seconds: float | None
    affected: int
    began: float | None  # mono
    recovered: float | None  # mono

    @property
    def outage(self) -> bool:
        return self.affected > 0


@dataclass(frozen=True)
class Gap:
    seconds: float
    start: float  # mono of the acknowledgement before the gap
    end: float  # mono of the acknowledgement that ended it


def outage(inv_mono: np.ndarray, comp_mono: np.ndarray, outcome: np.ndarray, fault_mono: float,
           slow_seconds: float, interrupted: np.ndarray | None = None, lost: np.ndarray | None = None) -> Outage:
    """The outage the fault caused on one shard's writes.

    A write is affected when it completed at or after the fault and failed, has an unknown outcome, was
    acknowledged but slow, or was acknowledged and then lost (the final read lacks it). The outage begins
    at the earliest invoke among them, so writes that were stuck in flight when a process froze start it
    at their invoke. It ends at the first acknowledged write that the final read still holds, that
    completed after the outage began (and not before the fault), and that either was invoked once the
    outage had begun or was itself slow (a stuck write finally acknowledged). A fast write invoked
    before the outage began that happens to complete just after it is not evidence of recovery.

    The "not before the fault" condition is ours: with many concurrent writers, some write invoked just
    after the first stuck one is acknowledged just before the fault, and without it would count as a
    recovery before the outage and report RTO 0.

    A `lost` write is never the recovery: a site loss takes a moment to kill every member, and a write the
    dying primary still acknowledged in that moment was gone with it. Counted as the recovery, it read as
    RTO 0.04 s in a CI run whose cluster came back 20 s later. Writable again means durably writable.

    An `interrupted` write (its user stopped by the harness ending the load, mid-operation) is unknown
    for RPO but says nothing about availability, so it does not start an outage: otherwise a write cut
    at the very end of a run reads as an outage that never recovered (CI saw it).
    """
    latency = comp_mono - inv_mono
    after = comp_mono >= fault_mono
    failed = outcome != OK
    if interrupted is not None:
        failed &= interrupted == 0
    gone = lost if lost is not None else np.zeros(len(outcome), dtype=bool)
    affected = after & (failed | (latency > slow_seconds) | gone)
    count = int(np.count_nonzero(affected))
    if not count:
        return Outage(rto_seconds=0.0, affected=0, began=None, recovered=None)
    began = float(inv_mono[affected].min())
    good = (after & (outcome == OK) & ~gone & (comp_mono > began)
            & ((inv_mono >= began) | (latency > slow_seconds)))
    if not good.any():
        return Outage(rto_seconds=None, affected=count, began=began, recovered=None)
    recovered = float(comp_mono[good].min())
    return Outage(rto_seconds=max(0.0, recovered - fault_mono), affected=count, began=began, recovered=recovered)


def longest_gap(ok_comp_mono: np.ndarray) -> Gap | None:
    """The largest interval between consecutive acknowledged writes; None with fewer than two."""
    if len(ok_comp_mono) < 2:
        return None
    times = np.sort(ok_comp_mono)
    gaps = np.diff(times)
    i = int(np.argmax(gaps))
    return Gap(seconds=float(gaps[i]), start=float(times[i]), end=float(times[i + 1]))
