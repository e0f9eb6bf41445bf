"""`drill report --trend`: the last N runs, short names, a table that fits a terminal, and plots whose
legend and labels overlap nothing (checked from the figure's own artist extents)."""

from __future__ import annotations

import json

import pytest
from matplotlib.figure import Figure

from tests.histories import FAULT_WALL
from tests.layout import layout_problems
from tests.rundirs import NIGHTLY, make_trend_runs
from waqiti_drill.report import plots, trendplot
from waqiti_drill.report.model import RoleSample, Throughput
from waqiti_drill.report.trend import Point, collect, short_names, table, write_trend

FULL = {f"{feature}: {scenario}" for feature, scenario, *_ in NIGHTLY}


def test_last_n_runs_oldest_first(tmp_path):
    make_trend_runs(tmp_path, 12)
    points = collect(tmp_path, last=4)
    runs = list(dict.fromkeys(p.run_id for p in points))
    assert len(runs) == 4 and runs == sorted(runs) and runs[-1].endswith("-000b")


def test_short_names_are_fault_tags_when_unique_else_the_words_shortened(tmp_path):
    make_trend_runs(tmp_path, 2)
    names = short_names(collect(tmp_path))
    assert set(names) == FULL and len(set(names.values())) == len(names)
    by_tag = {short for short in names.values() if "_" in short}
    assert by_tag == {"primary_crash", "redis_master_failover", "site_loss"}
    freeze = [n for full, n in names.items() if "primary_freeze" not in n and "primary" in full.lower()
              and n not in by_tag]
    assert sorted(freeze) == ["primary hangs for less than…", "primary-freeze drill runs…"]
    assert all(len(n) <= 28 for n in names.values())


def test_a_shortened_name_keeps_its_outline_example():
    points = [Point("r", "2025-11-01T00:00", "failover: The primary is lost without warning, at night [killed]",
                    "passed", 1.0, 0.0, 900, 3600)]
    assert short_names(points)["failover: The primary is lost without warning, at night [killed]"] \
        == "primary is lost… [killed]"


def test_the_table_fits_a_terminal_and_marks_a_failed_run(tmp_path):
    make_trend_runs(tmp_path, 15, failed_run=12)
    text, png, data = write_trend(tmp_path, last=10)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)
    crash = next(line for line in lines if line.startswith("primary_crash"))
    assert crash.split()[1:3] == ["10", "passed"] and "950.0" in crash
    assert crash.rstrip()[-10:][7] == "!"  # run 13 of 15 is the 8th of the last 10
    deployment = next(line for line in lines if line.startswith("Redis runs as a cluster…"))
    assert deployment.rstrip().endswith("·" * 10)
    points = json.loads(data.read_text())
    assert {p["short_name"] for p in points} >= {"primary_crash", "site_loss"} and len(points) == 60
    html = (tmp_path / "trend.html").read_text()
    assert "data:image/png;base64," in html and "A master is killed and its replica is promoted" in html


@pytest.mark.parametrize("width", [80, 90, 100])
def test_the_table_fits_80_to_100_columns(tmp_path, width):
    make_trend_runs(tmp_path, 12, failed_run=10)  # among the last 5 runs, which 90 columns still show
    text = table(collect(tmp_path, last=10), width)
    assert max(len(line) for line in text.splitlines()) <= width
    crash = next(line for line in text.splitlines() if line.startswith("primary_crash"))
    assert ("!" in crash) == (width >= 90)  # the sparkline needs the room


def test_trend_grid_layout_is_clean(tmp_path):
    make_trend_runs(tmp_path, 30, failed_run=20)
    points = collect(tmp_path, last=30)
    names = short_names(points)
    runs = list(dict.fromkeys(p.run_id for p in points))
    starts = {p.run_id: p.started_at for p in points}
    series = {names[s]: [(p.run_id, p.rto_seconds, p.rpo_seconds, p.status) for p in points if p.scenario == s]
              for s in names}
    figure = trendplot.trend_figure([(r, starts[r]) for r in runs], series, 900.0, 3600.0)
    assert layout_problems(figure) == []
    plotted = [a for a in figure.axes if a.get_visible()]
    assert len(plotted) == 5  # the deployment check has no figure to plot
    assert {a.get_title() for a in plotted} >= {"primary_crash", "site_loss"}
    assert len(figure.legends) == 1 and all(a.get_legend() is None for a in plotted)
    labelled = [t.get_text() for t in plotted[0].get_xticklabels() if t.get_text()]
    assert 2 <= len(labelled) < 30 and labelled[-1] == "11-30"  # thinned; the newest run is labelled


def test_the_layout_check_can_fail():
    """A legend over the data and crowded labels are found."""
    figure = Figure(figsize=(3, 2))
    axes = figure.add_subplot()
    axes.plot(range(30), range(30), label="a long legend entry over the data")
    axes.legend(loc="center")
    axes.set_xticks(range(30), [f"2025-11-{i:02d}" for i in range(30)])
    found = layout_problems(figure)
    assert any("legend overlaps" in p for p in found) and any("tick labels" in p for p in found)


def test_evidence_plots_keep_their_legends_outside_the_data():
    seconds = list(range(-10, 20))
    series = Throughput(seconds=seconds, ok={"postgres": [50] * 30, "redis": [80] * 30},
                        errors={"postgres": [0] * 30, "redis": [0] * 30}, origin_wall=FAULT_WALL)
    assert layout_problems(plots.throughput_figure(series, "Primary freeze: writes per second", True)) == []
    samples = [RoleSample(FAULT_WALL + t, {"pg1": "primary" if t < 0 else "down", "pg2": "replica"})
               for t in range(-5, 10)]
    assert layout_problems(plots.roles_figure(samples, FAULT_WALL, "Primary freeze: member roles")) == []


@pytest.mark.parametrize("last", ["0", "-3"])
def test_last_must_be_positive(tmp_path, last):
    import subprocess
    import sys

    make_trend_runs(tmp_path, 1)
    done = subprocess.run([sys.executable, "-m", "waqiti_drill.cli", "report", "--trend", "--reports-dir",
                           str(tmp_path), "--last", last], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--last must be a whole number >= 1" in done.stderr
    assert done.stderr.count("\n") == 1
