"""Presentation of a check: instants as wall-clock ISO 8601 UTC, and the human table.

The result itself is a CheckResult (`drill check --json` prints its JSON form); the table is a view of
it, so both always say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from waqiti_drill.timefmt import utc_iso

if TYPE_CHECKING:
    from waqiti_drill.checker.result import CheckResult, ShardResult


@dataclass(frozen=True)
class Clock:
    """Maps `mono` instants to wall time through the fault record: durations come from `mono` (which
    does not jump), and the one (wall, mono) pair taken together by the injector anchors them."""

    mono: float
    wall: float

    def seconds(self, mono: float) -> float:
        """Seconds relative to the fault instant."""
        return round(mono - self.mono, 6)

    def iso(self, mono: float) -> str:
        return utc_iso(self.wall + (mono - self.mono))


def seconds(value: float) -> float:
    """Durations in the result are rounded to the microsecond: finer is float noise, not measurement."""
    return round(value, 6)


def _secs(value: float | None, never: str = "-") -> str:
    return never if value is None else f"{value:.1f}s"


HEADER = ("scope", "RTO", "longest gap", "acked", "lost", "recovered", "unexpected", "RPO", "result")


def _row(label: str, scope: ShardResult) -> tuple[str, ...]:
    return (label, _secs(scope.rto_seconds, "never"), _secs(scope.longest_write_gap_seconds),
            str(scope.acked_writes), str(scope.lost), str(scope.recovered), str(scope.unexpected),
            _secs(scope.rpo_seconds), "PASS" if scope.passed else "FAIL")


def render_table(result: CheckResult) -> str:
    """One row per service and per shard (a shard named like its service is the service itself), then
    the fault, the totals and one line per problem."""
    rows = [HEADER]
    for name, service in result.services.items():
        rows.append(_row(name, service))
        for shard, scope in service.shards.items():
            if shard != name:
                rows.append(_row(f"  {shard}", scope))
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    fault, targets = result.fault, result.targets
    lines += [
        f"fault: {fault.name} on {fault.target} injected at {fault.injected_at}; RPO mode {result.mode}; "
        f"targets RTO {targets.rto_seconds:g}s, RPO {targets.rpo_seconds:g}s; slow write > "
        f"{result.slow_seconds:g}s",
        f"operations: {result.operations} ({result.incomplete} never completed) in {len(result.files)} "
        f"file(s); RTO {_secs(result.rto_seconds, 'never')}, RPO {_secs(result.rpo_seconds)}, "
        f"{result.acked_writes} acknowledged writes, {result.lost_writes} lost",
        "result: " + ("PASS" if result.passed else "FAIL"),
    ]
    lines += [f"PROBLEM: {p}" for p in result.problems]
    return "\n".join(lines)
