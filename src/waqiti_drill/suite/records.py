"""Pure assembly of what one scenario hands on: its directory name and its ScenarioResult.

Kept apart from pytest and the platform so it is unit-tested on plain data: a checker result (the
CheckResult `waqiti_drill.checker.check` returns) plus what the plugin saw of the scenario becomes one record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from waqiti_drill.checker.result import CheckResult
from waqiti_drill.config import Targets
from waqiti_drill.results import (
    BackupUsed,
    ControlCheck,
    Detection,
    FaultInfo,
    MonitoringSeen,
    Paths,
    RegionRecovery,
    ScenarioResult,
    Status,
    Timeline,
)
from waqiti_drill.timefmt import utc_iso

RESULT_FILE = "result.json"  # each scenario's record, in its directory, gathered into results.json
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slug(feature: str, scenario: str, example: dict[str, str] | None = None, limit: int = 80) -> str:
    """A directory name for a scenario: feature stem, scenario name and outline values, lower-case."""
    parts = [Path(feature).stem, scenario, *(example or {}).values()]
    text = "--".join(_NOT_SLUG.sub("-", p.lower()).strip("-") for p in parts if p)
    return text[:limit].rstrip("-") or "scenario"


def unique_slug(base: str, taken: set[str]) -> str:
    """`base`, or base-2, base-3... when a scenario of the same name ran already in this run."""
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


@dataclass
class Observed:
    """What the plugin and the steps saw of one scenario, besides the checker's result."""

    feature: str
    scenario: str
    tags: list[str]
    status: Status
    targets: Targets
    hypothesis: str = ""
    error: str | None = None  # the failing step's error, one line
    started_at: float | None = None  # epoch
    duration_seconds: float | None = None
    data_validated: float | None = None  # epoch: the final read-back finished
    deviations: list[str] = field(default_factory=list)
    measurements: dict[str, float | int | str] = field(default_factory=dict)
    paths: Paths = field(default_factory=Paths)
    backups: list[BackupUsed] = field(default_factory=list)
    timeout_multiplier: float | None = None
    detections: list[Detection] = field(default_factory=list)
    monitoring: MonitoringSeen | None = None
    healthy_at: float | None = None  # epoch: the heal finished
    first_fault: FaultInfo | None = None  # from the fault records, for a scenario the checker did not measure
    region: RegionRecovery | None = None
    controls: list[ControlCheck] = field(default_factory=list)


def one_line(text: str, limit: int = 400) -> str:
    """An error as one line: pytest's assertion rewriting and tracebacks span many."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    first = lines[0] if lines else ""
    return first if len(first) <= limit else first[: limit - 3] + "..."


def build_result(seen: Observed, check: CheckResult | None) -> ScenarioResult:
    """The ScenarioResult of a scenario: figures from the checker (when a fault was measured), the rest
    from what was observed. A missed target or a checker problem is a deviation, as is the failing step."""
    result = ScenarioResult(
        feature=seen.feature, scenario=seen.scenario, tags=sorted(seen.tags), status=seen.status,
        targets=seen.targets, hypothesis=seen.hypothesis, paths=seen.paths, measurements=dict(seen.measurements),
        started_at=utc_iso(seen.started_at), duration_seconds=seen.duration_seconds, deviations=list(seen.deviations),
        backups=list(seen.backups), timeout_multiplier=seen.timeout_multiplier, detections=list(seen.detections),
        monitoring=seen.monitoring, region=seen.region, controls=list(seen.controls))
    if check is not None:
        _apply_check(result, check, seen.data_validated)
    _apply_detection(result, seen)
    result.deviations += [f"control not met: {c.control}: " + "; ".join(f for f in c.findings if f.startswith("FAIL"))
                          for c in seen.controls if not c.passed]
    if seen.error:
        result.deviations.append(f"failed step: {seen.error}")
    return result


def _apply_check(result: ScenarioResult, check: CheckResult, data_validated: float | None) -> None:
    result.rto_seconds = check.rto_seconds
    result.rpo_seconds = check.rpo_seconds
    result.acked_writes = check.acked_writes
    result.lost_writes = check.lost_writes
    result.recovered_writes = check.recovered_writes
    fault = check.fault
    result.fault = FaultInfo(name=fault.name, target=fault.target, injected_at=fault.injected_at)
    worst = check.worst_service()
    began = None if worst is None else worst.outage_began_at
    if began is not None and began < fault.injected_at:
        # The first affected write was already in flight when the fault hit: for the client, the outage
        # began at the fault instant (ISO 8601 UTC strings of one format compare as instants).
        began = fault.injected_at
    result.timeline = Timeline(fault_injected=fault.injected_at, failure_detected=began,
                               writable_again=None if worst is None else worst.recovered_at,
                               data_validated=utc_iso(data_validated))
    result.deviations += list(check.problems)
    for name, service in check.services.items():
        for shard, scope in service.shards.items():
            label = name if shard == name else f"{name} shard {shard}"
            figures = {"rto_seconds": scope.rto_seconds, "lost": scope.lost, "acked_writes": scope.acked_writes,
                       "affected_writes": scope.affected_writes,
                       "longest_write_gap_seconds": scope.longest_write_gap_seconds,
                       # RTO counts from the fault instant; for a long change (a reshard, a scale-out) the outage
                       # itself can be a short blip late in it, so its own length is reported beside the RTO.
                       "outage_seconds": scope.outage_seconds}
            result.measurements.update({f"{label}: {key}": value for key, value in figures.items()
                                        if value is not None})


def _apply_detection(result: ScenarioResult, seen: Observed) -> None:
    """The RTO decomposed: the first alert the drill's faults raised (pending, firing = detected, notified)
    and the heal's end (healthy) join the client-side instants in the timeline."""
    fired = sorted((d for d in seen.detections if d.firing_at), key=lambda d: d.firing_at or "")
    first = fired[0] if fired else None
    t = result.timeline
    t.alert_pending = first.pending_at if first else None
    t.alert_firing = first.firing_at if first else None
    t.alert_notified = first.notified_at if first else None
    t.healthy = utc_iso(seen.healthy_at)
    # A drill the checker did not measure (no client load: a disk filled, connections held) claims no RTO or RPO,
    # so its fault stays out of `fault` (which would make them NOT MEASURED); its instant still anchors the
    # timeline, and the detection table names it.
    if t.fault_injected is None:
        starts = [d.condition_at for d in seen.detections]
        t.fault_injected = seen.first_fault.injected_at if seen.first_fault else (min(starts) if starts else None)
    if seen.monitoring is not None:
        result.deviations += [f"false positive: {a}" for a in seen.monitoring.false_positives]
        result.deviations += [f"not detected: {d.alert} after {d.condition} ({d.verdict}, budget "
                              f"{d.budget_seconds:g}s)" for d in seen.detections
                              if d.verdict in ("missed", "late", "not notified")]


def relative(path: Path | None, run_dir: Path) -> str | None:
    """A path inside the run directory as the records hold it (relative), None for none or a missing file."""
    if path is None or not path.exists():
        return None
    try:
        return str(path.resolve().relative_to(run_dir.resolve()))
    except ValueError:
        return str(path)
