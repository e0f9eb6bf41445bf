"""What earlier runs say about a scenario: how long it took, and which fault it injected on what.

Read from every results.json under the reports directory (the run directories `drill run` leaves), so the
plan and the live view's ETA come from this machine's own history rather than a guessed figure. A run
whose results.json cannot be read is passed over and named in `skipped` (an estimate is advice; the
trend, which is evidence, refuses such a run instead).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

from waqiti_drill.errors import DrillError
from waqiti_drill.results import MANIFEST_FILE, RESULTS_FILE, read_manifest, read_results

RECENT = 5  # the median of the last few runs: recent enough to follow a change, robust to one slow run


@dataclass
class Past:
    """One scenario's earlier runs, oldest first."""

    durations: list[float] = field(default_factory=list)
    last_fault: tuple[str, str] | None = None  # (fault name, target) of the newest run that recorded one
    last_status: str | None = None

    @property
    def expected_seconds(self) -> float | None:
        recent = self.durations[-RECENT:]
        return round(statistics.median(recent), 1) if recent else None


@dataclass
class Estimates:
    by_scenario: dict[tuple[str, str], Past] = field(default_factory=dict)
    runs: int = 0
    skipped: list[str] = field(default_factory=list)  # one line per run directory that could not be read

    def expected(self, feature: str, scenario: str) -> float | None:
        past = self.by_scenario.get((feature, scenario))
        return past.expected_seconds if past else None

    def total(self, scenarios: list[tuple[str, str]]) -> tuple[float, int]:
        """Expected seconds of `scenarios` together, and how many of them have no history."""
        known = [self.expected(f, s) for f, s in scenarios]
        return sum(k for k in known if k is not None), sum(k is None for k in known)


def _start(run_dir: Path) -> str:
    try:
        return read_manifest(run_dir).started_at if (run_dir / MANIFEST_FILE).is_file() else ""
    except DrillError:
        return ""


def load(reports_dir: Path, exclude: Path | None = None) -> Estimates:
    """Every readable run under `reports_dir` (but `exclude`, the run in progress), in start order."""
    found = Estimates()
    if not reports_dir.is_dir():
        return found
    runs = [p for p in reports_dir.iterdir() if (p / RESULTS_FILE).is_file() and p != exclude]
    for run_dir in sorted(runs, key=lambda p: (_start(p), p.name)):
        try:
            results = read_results(run_dir)
        except DrillError as exc:
            found.skipped.append(str(exc).splitlines()[0])
            continue
        found.runs += 1
        for r in results:
            past = found.by_scenario.setdefault((r.feature, r.scenario), Past())
            if r.status != "skipped" and r.duration_seconds is not None:
                past.durations.append(float(r.duration_seconds))
                past.last_status = r.status
            if r.fault is not None:
                past.last_fault = (r.fault.name, r.fault.target)
    return found


def human(seconds: float | None) -> str:
    """'45 s', '3m10s', '1h02m'; '?' for unknown."""
    if seconds is None:
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"
