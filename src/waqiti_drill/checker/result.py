"""The checker's result as typed records: what `check` returns, check.json holds (to_json), and the steps,
the scenario records and the report read back (CheckResult.read), instead of digging in nested dicts.

    CheckResult                   the whole drill: fault, RTO/RPO, totals, pass/fail and one line per problem
      services: {name: ServiceResult}       a service's figures are its worst shard's
        shards: {shard: ShardResult}        RTO, gap and RPO of the writes routed to one shard
        functions: {f: FunctionResult}      counts and RPO per write function (transfer, session, incr)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from waqiti_drill.config import Targets
from waqiti_drill.datajson import from_json
from waqiti_drill.errors import InvalidConfig


@dataclass(kw_only=True)
class GapWindow:
    start_seconds: float  # relative to the fault instant
    end_seconds: float
    start_at: str  # ISO 8601 UTC
    end_at: str


@dataclass(kw_only=True)
class Counts:
    acked_writes: int
    failed: int
    info: int
    incomplete: int
    lost: int
    recovered: int
    unexpected: int
    failed_present: int


@dataclass(kw_only=True)
class FunctionResult(Counts):
    rpo_seconds: float


@dataclass(kw_only=True)
class ShardResult(Counts):
    """One shard's writes. RTO counts from the fault instant to the first acknowledged write after the
    outage began (None: never recovered); the outage is the affected writes' window."""

    rto_seconds: float | None
    outage: bool
    affected_writes: int
    outage_began_at: str | None
    outage_began_seconds: float | None
    recovered_at: str | None
    recovered_seconds: float | None
    longest_write_gap_seconds: float | None
    longest_write_gap: GapWindow | None
    rpo_seconds: float
    passed: bool

    @property
    def outage_seconds(self) -> float | None:
        """How long the affected writes' window lasted (a short blip late in a long change reads here)."""
        if self.outage_began_seconds is None or self.recovered_seconds is None:
            return None
        return round(self.recovered_seconds - self.outage_began_seconds, 6)


@dataclass(kw_only=True)
class BalanceTotal:
    value: int
    expected: int


@dataclass(kw_only=True)
class ReadCounts:
    ok: int = 0
    fail: int = 0
    info: int


@dataclass(kw_only=True)
class ServiceResult(ShardResult):
    worst_shard: str | None
    shards: dict[str, ShardResult]
    functions: dict[str, FunctionResult]
    reads: ReadCounts
    balance_total: BalanceTotal | None = None  # only for a service whose final read checks an invariant


@dataclass(kw_only=True)
class FaultSeen:
    """The fault the figures are measured from (the first injected one)."""

    name: str
    target: str
    injected_at: str
    wall: float
    mono: float
    detail: dict[str, object]
    where: str  # file:line of its record


@dataclass(kw_only=True)
class FaultEvent:
    name: str
    target: str
    phase: str  # inject | heal
    at: str
    wall: float
    mono: float
    seconds: float  # relative to the fault instant


@dataclass(kw_only=True)
class CheckResult:
    history: str
    files: list[str]
    operations: int
    incomplete: int
    fault: FaultSeen
    faults: list[FaultEvent]
    mode: str  # how RPO was measured: failover | restore
    slow_seconds: float
    targets: Targets
    services: dict[str, ServiceResult]
    rto_seconds: float | None  # the worst service's; None when one never recovered
    rpo_seconds: float
    acked_writes: int
    lost_writes: int
    passed: bool
    problems: list[str]

    @property
    def recovered_writes(self) -> int:
        return sum(s.recovered for s in self.services.values())

    def worst_service(self) -> ServiceResult | None:
        """The service whose outage defines the timeline: the one that never recovered, else the longest RTO."""
        affected = [s for s in self.services.values() if s.outage_began_at is not None]
        never = [s for s in affected if s.rto_seconds is None]
        if never:
            return never[0]
        return max(affected, key=lambda s: s.rto_seconds or 0.0, default=None)

    @classmethod
    def read(cls, path: Path) -> CheckResult:
        """A check.json read back through these records; InvalidConfig naming the file (and field) otherwise."""
        try:
            data = json.loads(path.read_text())
        except OSError as exc:
            raise InvalidConfig(f"{path}: cannot read the checker's result ({exc.strerror})") from None
        except json.JSONDecodeError as exc:
            raise InvalidConfig(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
        return from_json(cls, data, str(path))
