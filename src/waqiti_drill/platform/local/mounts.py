"""The mount table as this process sees it, and the two mount(8) calls the harness makes.

Shared by the member disks (disks.py) and the encrypted volumes under them (volumes.py).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from waqiti_drill.errors import CommandFailed


def disks_enabled() -> bool:
    """Bounded (and encrypted) filesystems need mount(2): root only."""
    return os.geteuid() == 0


def _unescape(field: str) -> str:
    # /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _mount_points() -> list[str]:
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    return [_unescape(parts[4]) for parts in (ln.split(" ") for ln in lines) if len(parts) > 4]


def mounted_at(path: Path) -> bool:
    """Whether something is mounted exactly at `path` in this process's mount namespace."""
    return str(path) in _mount_points()


def mounts_under(path: Path) -> list[Path]:
    """Every mount point at or below `path` in this process's mount namespace."""
    root = str(path).rstrip("/") + "/"
    return [Path(p) for p in _mount_points() if p == root.rstrip("/") or p.startswith(root)]


def run(argv: list[str], what: str) -> None:
    """A mount-family tool; CommandFailed with its message when it fails (argv never carries a secret)."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise CommandFailed(f"{what}: {' '.join(argv)} exited {result.returncode}: "
                            f"{(result.stderr or result.stdout).strip()}")


def unmount(point: Path, what: str, timeout: float) -> bool:
    """Unmount `point` (the processes using it must be gone); False when nothing was mounted there.

    Still busy after `timeout` (a process of ours in another mount namespace not yet reaped): detached
    lazily, and the kernel releases it when the last user is gone."""
    if not mounted_at(point):
        return False
    deadline = time.monotonic() + timeout
    while True:
        result = subprocess.run(["umount", str(point)], capture_output=True, text=True, timeout=60)
        if result.returncode == 0 or not mounted_at(point):
            return True
        if time.monotonic() > deadline:
            run(["umount", "-l", str(point)], f"detaching {what}")
            return True
        time.sleep(0.2)
