"""report.html rendered by a real browser (headless Chromium, from a file: URL, network off): the text an
auditor reads is there, and the screenshot shows a drawn page with its badges and plots, not a blank one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.rundirs import make_run
from waqiti_drill.report.build import build

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/setup.sh installs it)"),
]
WIDTH, HEIGHT = 1200, 2400
PASS_GREEN = (0x2E, 0x7D, 0x32)


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The flags this machine needs (see the machine notes): no sandbox as root, no GPU, and no background
    # networking, so the page is all the browser loads. A proxy to nowhere makes any fetch fail.
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--proxy-server=http://127.0.0.1:9", f"--user-data-dir={profile}", "--hide-scrollbars"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("render")
    run_dir = make_run(root / "reports", with_allure=False)
    build(run_dir, root / "key.pem", {})
    return root, run_dir / "evidence" / "report.html"


def test_the_page_text_names_every_scenario_and_control(page):
    root, html = page
    done = _chromium(root / "profile-dom", "--dump-dom", html.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    for text in ("Primary freeze", "The stack conforms to the spec", "PCI-DSS 12.10.2", "SOC 2 A1.3",
                 "ISO 22301 §8.5", "PCI-DSS 2.2", "sre-on-call", "Writable again (UTC)"):
        assert text in dom, text


def test_the_screenshot_is_a_drawn_page_with_badges_and_plots(page):
    root, html = page
    shot = root / "report.png"
    done = _chromium(root / "profile-shot", f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", html.as_uri())
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (WIDTH, HEIGHT)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200, "a blank or near-blank page"
    white = sum(n for n, c in colours if c == (255, 255, 255))
    assert white < 0.95 * WIDTH * HEIGHT
    greens = sum(n for n, c in colours if all(abs(a - b) <= 8 for a, b in zip(c, PASS_GREEN, strict=True)))
    assert greens > 200, "the PASS badges are drawn"
    # The plots' blue line (matplotlib's tab:blue) only exists if the embedded images rendered.
    blues = sum(n for n, c in colours if all(abs(a - b) <= 12 for a, b in zip(c, (31, 119, 180), strict=True)))
    assert blues > 500, "the embedded plots are drawn"
