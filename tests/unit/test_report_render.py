"""report.html rendered by a real browser (headless Chromium, from a file: URL, network off): the text an
auditor reads is there, and the screenshot shows a drawn page with its badges and plots, not a blank one."""

from __future__ import annotations

import pytest

from tests.browser import CHROMIUM, check_drawn_page, dump_dom, screenshot
from tests.rundirs import make_run
from waqiti_drill.report.build import build

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/setup.sh installs it)"),
]
WIDTH, HEIGHT = 1200, 2400


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("render")
    run_dir = make_run(root / "reports", with_allure=False)
    build(run_dir, root / "key.pem", {})
    return root, run_dir / "evidence" / "report.html"


def test_the_page_text_names_every_scenario_and_control(page):
    root, html = page
    dom = dump_dom(html, root / "profile-dom")
    for text in ("Primary freeze", "The stack conforms to the spec", "PCI-DSS 12.10.2", "SOC 2 A1.3",
                 "ISO 22301 §8.5", "PCI-DSS 2.2", "sre-on-call", "Writable again (UTC)"):
        assert text in dom, text


def test_the_screenshot_is_a_drawn_page_with_badges_and_plots(page):
    root, html = page
    image = screenshot(html, root / "report.png", root / "profile-shot", WIDTH, HEIGHT)
    check_drawn_page(image, WIDTH, HEIGHT)


def test_a_blank_page_fails_the_check(tmp_path):
    """The check itself can fail: an empty page is refused."""
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    image = screenshot(blank, tmp_path / "blank.png", tmp_path / "profile", WIDTH, HEIGHT)
    with pytest.raises(AssertionError, match="blank"):
        check_drawn_page(image, WIDTH, HEIGHT)
