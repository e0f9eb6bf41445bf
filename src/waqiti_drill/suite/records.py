"""Pure assembly of what one scenario hands on: its directory name and its ScenarioResult.

Kept apart from pytest and the platform so it is unit-tested on plain data: a checker result (the dict
`waqiti_drill.checker.check` returns) plus what the plugin saw of the scenario becomes one record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from waqiti_drill.results import BackupUsed, FaultInfo, Paths, ScenarioResult, Status, Targets, Timeline, utc_iso

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


def one_line(text: str, limit: int = 400) -> str:
    """An error as one line: pytest's assertion rewriting and tracebacks span many."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    first = lines[0] if lines else ""
    return first if len(first) <= limit else first[: limit - 3] + "..."


def build_result(seen: Observed, check: dict[str, Any] | None) -> ScenarioResult:
    """The ScenarioResult of a scenario: figures from the checker (when a fault was measured), the rest
    from what was observed. A missed target or a checker problem is a deviation, as is the failing step."""
    result = ScenarioResult(
        feature=seen.feature, scenario=seen.scenario, tags=sorted(seen.tags), status=seen.status,
        targets=seen.targets, hypothesis=seen.hypothesis, paths=seen.paths, measurements=dict(seen.measurements),
        started_at=utc_iso(seen.started_at), duration_seconds=seen.duration_seconds, deviations=list(seen.deviations),
        backups=list(seen.backups))
    if check is not None:
        _apply_check(result, check, seen.data_validated)
    if seen.error:
        result.deviations.append(f"failed step: {seen.error}")
    return result


def _apply_check(result: ScenarioResult, check: dict[str, Any], data_validated: float | None) -> None:
    services: dict[str, dict[str, Any]] = check.get("services", {})
    result.rto_seconds = check.get("rto_seconds")
    result.rpo_seconds = check.get("rpo_seconds")
    result.acked_writes = check.get("acked_writes")
    result.lost_writes = check.get("lost_writes")
    result.recovered_writes = sum(int(s.get("recovered", 0)) for s in services.values())
    fault = check.get("fault") or {}
    if fault:
        result.fault = FaultInfo(name=fault["name"], target=fault["target"], injected_at=fault.get("injected_at"))
    worst = _worst_service(services)
    began = None if worst is None else worst.get("outage_began_at")
    if began is not None and fault.get("injected_at") and began < fault["injected_at"]:
        # The first affected write was already in flight when the fault hit: for the client, the outage
        # began at the fault instant (ISO 8601 UTC strings of one format compare as instants).
        began = fault["injected_at"]
    result.timeline = Timeline(
        fault_injected=fault.get("injected_at"),
        failure_detected=began,
        writable_again=None if worst is None else worst.get("recovered_at"),
        data_validated=utc_iso(data_validated))
    result.deviations += [str(p) for p in check.get("problems", [])]
    for name, service in services.items():
        for shard, scope in service.get("shards", {}).items():
            label = name if shard == name else f"{name} shard {shard}"
            for key in ("rto_seconds", "lost", "acked_writes", "affected_writes", "longest_write_gap_seconds"):
                if scope.get(key) is not None:
                    result.measurements[f"{label}: {key}"] = scope[key]
            if scope.get("outage_began_seconds") is not None and scope.get("recovered_seconds") is not None:
                # RTO counts from the fault instant; for a long change (a reshard, a scale-out) the outage
                # itself can be a short blip late in it, so its own length is reported beside the RTO.
                result.measurements[f"{label}: outage_seconds"] = round(
                    scope["recovered_seconds"] - scope["outage_began_seconds"], 6)


def _worst_service(services: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The service whose outage defines the timeline: the one that never recovered, else the longest RTO."""
    affected = [s for s in services.values() if s.get("outage_began_at") is not None]
    if not affected:
        return None
    never = [s for s in affected if s.get("rto_seconds") is None]
    return never[0] if never else max(affected, key=lambda s: s["rto_seconds"])


def relative(path: Path | None, run_dir: Path) -> str | None:
    """A path inside the run directory as the records hold it (relative), None for none or a missing file."""
    if path is None or not path.exists():
        return None
    try:
        return str(path.resolve().relative_to(run_dir.resolve()))
    except ValueError:
        return str(path)
