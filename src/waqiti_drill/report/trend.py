"""`drill report --trend`: RTO and RPO of each scenario across the last N runs under a reports directory.

A run counts when it has a results.json (directories of `drill load` or `drill chaos` alone have none
and are passed over). Runs are ordered by their manifest's start time, so everything reads left to right
(oldest to newest) as the drills happened. A corrupt results.json is an error naming it, not a silently
shorter trend.

Three outputs from the same points: a table that fits a terminal (one row per scenario, short names, a
sparkline of the RTO per run), reports/trend.png (one small plot per scenario, the legend outside the
plots) with reports/trend.html around it, and reports/trend.json (every point, full names).
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from waqiti_drill.errors import InvalidConfig
from waqiti_drill.report import trendplot
from waqiti_drill.results import MANIFEST_FILE, RESULTS_FILE, read_manifest, read_results
from waqiti_drill.suite.tags import FAULT_TAGS

SHORT = 28  # columns for a scenario's short name
SPARKS = "▁▂▃▄▅▆▇█"


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
    tags: list[str] = field(default_factory=list)


def collect(reports_dir: Path, last: int | None = None) -> list[Point]:
    """Points of the `last` newest runs (all when None), oldest first."""
    if not reports_dir.is_dir():
        raise InvalidConfig(f"{reports_dir}: no such reports directory")
    runs = []
    for run_dir in (p for p in reports_dir.iterdir() if (p / RESULTS_FILE).is_file()):
        started = read_manifest(run_dir).started_at if (run_dir / MANIFEST_FILE).is_file() else ""
        runs.append((started, run_dir.name, run_dir))
    runs.sort()
    points = []
    for started, _, run_dir in runs[-last:] if last else runs:
        for r in read_results(run_dir):
            if r.status == "skipped":
                continue
            points.append(Point(run_id=run_dir.name, started_at=started, scenario=f"{r.feature}: {r.scenario}",
                                status=r.status, rto_seconds=r.rto_seconds, rpo_seconds=r.rpo_seconds,
                                rto_target=r.targets.rto_seconds, rpo_target=r.targets.rpo_seconds, tags=r.tags))
    return sorted(points, key=lambda p: (p.started_at, p.run_id, p.scenario))


def _shorten(text: str, limit: int) -> str:
    """The scenario's words without a leading article, cut at a word with '…', keeping an [example]."""
    text = re.sub(r"^(The|A|An) ", "", text.split(": ", 1)[-1])
    example = re.search(r" \[[^\]]*\]$", text)
    suffix = example.group(0) if example else ""
    body = text[: len(text) - len(suffix)]
    if len(body) + len(suffix) <= limit:
        return body + suffix
    room = max(8, limit - len(suffix) - 1)
    cut = body[: room + 1].rsplit(" ", 1)[0] if " " in body[:room] else body[:room]
    return (cut.rstrip(" ,:;-") + "…" + suffix)[: limit]


def short_names(points: list[Point], limit: int = SHORT) -> dict[str, str]:
    """A short name per scenario: its fault tag when no other scenario has it (the name SREs type after
    --tags), else its own words shortened; unique, at most `limit` columns."""
    tags: dict[str, set[str]] = {}
    for p in points:
        tags.setdefault(p.scenario, set()).update(t for t in p.tags if t in FAULT_TAGS)
    owners: dict[str, int] = {}
    for ts in tags.values():
        for t in ts:
            owners[t] = owners.get(t, 0) + 1
    names: dict[str, str] = {}
    for scenario, ts in tags.items():
        own = sorted(ts, key=lambda t: (owners[t], t))
        name = own[0][:limit] if own and owners[own[0]] == 1 else _shorten(scenario, limit)
        while name in names.values():
            name = name[: limit - 2] + "#" + str(sum(n.startswith(name[: limit - 2]) for n in names.values()) + 1)
        names[scenario] = name
    return names


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _spark(values: list[float | None], failed: list[bool]) -> str:
    """One character per run: the RTO's height within the scenario's own range, '!' for a failed run,
    '·' for a run without the scenario or without a figure."""
    top = max((v for v, bad in zip(values, failed, strict=True) if v is not None and not bad), default=0.0)
    chars = []
    for v, bad in zip(values, failed, strict=True):
        if bad:
            chars.append("!")
        elif v is None:
            chars.append("·")
        else:
            chars.append(SPARKS[min(len(SPARKS) - 1, int(v / top * (len(SPARKS) - 1))) if top > 0 else 0])
    return "".join(chars)


def table(points: list[Point], width: int = 100) -> str:
    """One row per scenario in at most `width` columns (80 and up): the sparkline gets what is left of the
    width after the figures, up to 20 runs, and below 90 columns the names are cut to 24; full names are
    in trend.json and trend.html."""
    short = SHORT if width >= 90 else 24
    names = short_names(points, short)
    room = width - (short + 57)  # the columns before the sparkline
    runs = list(dict.fromkeys(p.run_id for p in points))[-min(20, max(0, room)):] if room >= 5 else []
    head = (f"{'scenario':{short}}  {'runs':>4}  {'last':6}  {'RTO last':>8} {'median':>6} {'max':>6}  "
            f"{'RPO last':>8} {'max':>6}" + (("  RTO by run" if room >= 10 else "  RTO") if runs else ""))
    lines = [head]
    for scenario in sorted(names, key=lambda s: names[s].lower()):
        mine = [p for p in points if p.scenario == scenario]
        rtos = [p.rto_seconds for p in mine if p.rto_seconds is not None]
        rpos = [p.rpo_seconds for p in mine if p.rpo_seconds is not None]
        by_run = {p.run_id: p for p in mine}
        spark = _spark([by_run[r].rto_seconds if r in by_run else None for r in runs],
                       [r in by_run and by_run[r].status == "failed" for r in runs])
        lines.append(f"{names[scenario]:{short}}  {len(mine):>4}  {mine[-1].status:6}  "
                     f"{_secs(mine[-1].rto_seconds):>8} "
                     f"{_secs(statistics.median(rtos) if rtos else None):>6} {_secs(max(rtos, default=None)):>6}  "
                     f"{_secs(mine[-1].rpo_seconds):>8} {_secs(max(rpos, default=None)):>6}"
                     + (f"  {spark}" if runs else ""))
    first, newest = points[0], points[-1]
    lines.append(f"{len(set(p.run_id for p in points))} run(s): oldest {first.started_at[:16] or '?'} "
                 f"({first.run_id}),")
    lines.append(f"  newest {newest.started_at[:16] or '?'} ({newest.run_id})")
    lines.append(f"targets: RTO {min(p.rto_target for p in points):g} s, RPO {min(p.rpo_target for p in points):g} s;"
                 " '!' a failed run, '·' no figure")
    return "\n".join(lines)


def write_trend(reports_dir: Path, last: int | None = 10, width: int = 100) -> tuple[str, Path, Path]:
    """The table; reports/trend.png, trend.html and trend.json written from the same points."""
    points = collect(reports_dir, last)
    if not points:
        raise InvalidConfig(f"{reports_dir}: no run with a {RESULTS_FILE} to compare")
    names = short_names(points)
    runs = list(dict.fromkeys(p.run_id for p in points))
    starts = {p.run_id: p.started_at for p in points}
    series = {names[s]: [(p.run_id, p.rto_seconds, p.rpo_seconds, p.status) for p in points if p.scenario == s]
              for s in names}
    targets = (min(p.rto_target for p in points), min(p.rpo_target for p in points))
    png = reports_dir / "trend.png"
    image = trendplot.trend_png([(r, starts[r]) for r in runs], series, *targets)
    png.write_bytes(image)
    data = reports_dir / "trend.json"
    data.write_text(json.dumps([{**asdict(p), "short_name": names[p.scenario]} for p in points], indent=2) + "\n")
    text = table(points, width)
    (reports_dir / "trend.html").write_text(trendplot.trend_html(image, names, text, runs), encoding="utf-8")
    return text, png, data
