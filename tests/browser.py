"""Headless Chromium for the report's rendering checks (the flags this machine needs: no sandbox as root,
no GPU, no background networking; a proxy to nowhere, so the page is all the browser can load)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from PIL import Image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PASS_GREEN = (0x2E, 0x7D, 0x32)
PLOT_BLUE = (31, 119, 180)  # matplotlib's tab:blue, the acknowledged-writes line and the primary role


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--proxy-server=http://127.0.0.1:9", f"--user-data-dir={profile}", "--hide-scrollbars"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


def dump_dom(html: Path, profile: Path) -> str:
    done = chromium(profile, "--dump-dom", html.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def screenshot(html: Path, shot: Path, profile: Path, width: int, height: int) -> Image.Image:
    done = chromium(profile, f"--screenshot={shot}", f"--window-size={width},{height}", html.as_uri())
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    return Image.open(shot).convert("RGB")


def near(colours: list[tuple[int, tuple[int, int, int]]], target: tuple[int, int, int], tolerance: int) -> int:
    """How many pixels are within `tolerance` of `target` on every channel."""
    return sum(n for n, c in colours if all(abs(a - b) <= tolerance for a, b in zip(c, target, strict=True)))


def check_drawn_page(image: Image.Image, width: int, height: int) -> None:
    """Not blank, the PASS badges drawn, the embedded plots drawn."""
    assert image.size == (width, height)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200, "a blank or near-blank page"
    white = sum(n for n, c in colours if c == (255, 255, 255))
    assert white < 0.95 * width * height
    assert near(colours, PASS_GREEN, 8) > 200, "the PASS badges are drawn"
    assert near(colours, PLOT_BLUE, 12) > 500, "the embedded plots are drawn"
