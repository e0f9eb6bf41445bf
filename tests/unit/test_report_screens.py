"""Screenshots of the evidence report and the trend page in headless Chromium (file: URLs, network off):
the executive summary opens the report (its box is drawn at the top, in green when the objectives are met
and red when not), its links lead to the scenarios, and the trend page shows its plot and table.
The plots' own layout (legend outside the axes, labels apart) is checked from their artist extents in
test_trend.py; here the pixels of the pages as a reader sees them."""

from __future__ import annotations

import json

import pytest

from tests.browser import CHROMIUM, PLOT_BLUE, dump_dom, near, screenshot
from tests.rundirs import make_run, make_trend_runs
from waqiti_drill.report.build import build
from waqiti_drill.report.trend import write_trend

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/setup.sh installs it)"),
]
MET_GREEN, NOT_MET_RED = (0x2E, 0x7D, 0x32), (0xC6, 0x28, 0x28)
WIDTH, HEIGHT = 1200, 900


def failed_run(reports):
    """make_run's run with the freeze drill failed: its RTO over the target."""
    run_dir = make_run(reports, with_allure=False)
    results = json.loads((run_dir / "results.json").read_text())
    results[0].update(status="failed", rto_seconds=950.0, deviations=["RTO 950.0s > target 900s"])
    (run_dir / "results.json").write_text(json.dumps(results))
    return run_dir


def left_band(image, colour, top: int) -> int:
    """Pixels of `colour` in the page's left margin band (where the summary box's thick border is drawn),
    above `top`."""
    band = image.crop((0, 0, 120, top))
    return near(band.getcolors(maxcolors=1 << 20), colour, 10)


@pytest.mark.parametrize(("make", "verdict", "colour"), [
    (lambda r: make_run(r, with_allure=False), "DR objectives: MET", MET_GREEN),
    (failed_run, "DR objectives: NOT MET", NOT_MET_RED),
])
def test_the_report_opens_with_the_executive_summary(tmp_path, make, verdict, colour):
    run_dir = make(tmp_path / "reports")
    build(run_dir, tmp_path / "key.pem", {})
    html = run_dir / "evidence" / "report.html"
    dom = dump_dom(html, tmp_path / "profile-dom")
    start = dom.index('id="executive-summary"')
    assert start < dom.index("Drill and scope") < dom.index('id="s-primary_freeze"')
    summary = dom[start:dom.index("</section>", start)]
    assert verdict in summary and "worst: " in summary and 'href="#s-primary_freeze"' in summary
    if "NOT" in verdict:
        assert "Needs attention" in summary and "RTO 950.0s &gt; target 900s" in summary
    image = screenshot(html, tmp_path / "report-top.png", tmp_path / "profile-shot", WIDTH, HEIGHT)
    assert left_band(image, colour, top=HEIGHT // 3) > 2000, "the summary box is drawn at the top"
    other = NOT_MET_RED if colour == MET_GREEN else MET_GREEN
    assert left_band(image, other, top=HEIGHT // 3) < 50


def test_the_trend_page_shows_its_plot_and_table(tmp_path):
    make_trend_runs(tmp_path, 12, failed_run=9)
    text, png, _ = write_trend(tmp_path, last=10)
    page = tmp_path / "trend.html"
    dom = dump_dom(page, tmp_path / "profile-dom")
    assert "the last 10 run(s)" in dom and "primary_crash" in dom and "A master is killed" in dom
    image = screenshot(page, tmp_path / "trend-page.png", tmp_path / "profile-shot", WIDTH, 1200)
    colours = image.getcolors(maxcolors=1 << 20)
    assert near(colours, PLOT_BLUE, 12) > 500, "the RTO lines are drawn"
    assert near(colours, (0xD6, 0x27, 0x28), 12) > 20, "the failed run's cross is drawn"  # trendplot.FAILED_COLOUR
