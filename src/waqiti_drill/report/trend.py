"""`drill report --trend`: RTO and RPO of each scenario across the past runs under a reports directory.

A run counts when it has a results.json (directories of `drill load` or `drill chaos` alone have none
and are passed over). Runs are ordered by their manifest's start time, so the plot reads left to right
as the drills happened. A corrupt results.json is an error naming it, not a silently shorter trend.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from waqiti_drill.errors import InvalidConfig
from waqiti_drill.report import plots
from waqiti_drill.results import MANIFEST_FILE, RESULTS_FILE, read_manifest, read_results


@dataclass
class Point:
    run_id: str
    started_at: str
    scenario: str  # "feature: scenario"
    status: str
    rto_seconds: float | None
    rpo_seconds: float | None
    rto_target: float
    rpo_target: float


def collect(reports_dir: Path) -> list[Point]:
    if not reports_dir.is_dir():
        raise InvalidConfig(f"{reports_dir}: no such reports directory")
    points = []
    for run_dir in sorted(p for p in reports_dir.iterdir() if (p / RESULTS_FILE).is_file()):
        started = read_manifest(run_dir).started_at if (run_dir / MANIFEST_FILE).is_file() else ""
        for r in read_results(run_dir):
            if r.status == "skipped":
                continue
            points.append(Point(run_id=run_dir.name, started_at=started, scenario=f"{r.feature}: {r.scenario}",
                                status=r.status, rto_seconds=r.rto_seconds, rpo_seconds=r.rpo_seconds,
                                rto_target=r.targets.rto_seconds, rpo_target=r.targets.rpo_seconds))
    return sorted(points, key=lambda p: (p.started_at, p.run_id, p.scenario))


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table(points: list[Point]) -> str:
    rows = [("scenario", "run", "started", "status", "RTO s", "RPO s")]
    rows += [(p.scenario, p.run_id, p.started_at, p.status, _secs(p.rto_seconds), _secs(p.rpo_seconds))
             for p in sorted(points, key=lambda p: (p.scenario, p.started_at, p.run_id))]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths,
                                                                                                 strict=True)))
                     for r in rows)


def write_trend(reports_dir: Path) -> tuple[str, Path, Path]:
    """The table, and reports/trend.png and reports/trend.json written from the same points."""
    points = collect(reports_dir)
    if not points:
        raise InvalidConfig(f"{reports_dir}: no run with a {RESULTS_FILE} to compare")
    series: dict[str, list[tuple[str, float | None, float | None]]] = {}
    for p in points:
        series.setdefault(p.scenario, []).append((p.run_id, p.rto_seconds, p.rpo_seconds))
    rto_targets = {p.rto_target for p in points}
    rpo_targets = {p.rpo_target for p in points}
    png = reports_dir / "trend.png"
    runs = list(dict.fromkeys(p.run_id for p in points))  # points are in time order
    png.write_bytes(plots.trend_png(runs, series, min(rto_targets), min(rpo_targets)))
    data = reports_dir / "trend.json"
    data.write_text(json.dumps([p.__dict__ for p in points], indent=2) + "\n")
    return table(points), png, data
