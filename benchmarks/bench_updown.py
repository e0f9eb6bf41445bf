"""Benchmark: `drill up` from nothing to healthy, `drill up` of a stopped stack, `drill down`.

Goals (issue 2): up from nothing <= 90 s and down <= 15 s on 2 cores. Runs the real CLI on its own
state directory and ports (defaults + 4000), so a stack on the default ports is not disturbed.

    .venv/bin/python benchmarks/bench_updown.py [--cycles 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.integration.stackutil import DRILL, shifted_ports_toml  # noqa: E402


def timed(env: dict[str, str], *args: str) -> float:
    started = time.monotonic()
    result = subprocess.run([*DRILL, *args], env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"drill {' '.join(args)} failed: {result.stderr.strip()}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=3)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="wd-bench-", dir="/tmp"))
    base.chmod(0o755)
    (base / "drill.toml").write_text(shifted_ports_toml(4000))
    env = dict(os.environ, DRILL_STATE_DIR=str(base / "state"), DRILL_CONFIG=str(base / "drill.toml"))
    rows: dict[str, list[float]] = {"up from nothing": [], "up again (no-op)": [], "down": [],
                                    "up of a stopped stack": [], "down --purge": []}
    try:
        for _ in range(args.cycles):
            rows["up from nothing"].append(timed(env, "up"))
            rows["up again (no-op)"].append(timed(env, "up"))
            rows["down"].append(timed(env, "down"))
            rows["up of a stopped stack"].append(timed(env, "up"))
            rows["down --purge"].append(timed(env, "down", "--purge"))
    finally:
        subprocess.run([*DRILL, "down", "--purge"], env=env, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
    print(f"{os.cpu_count()} cores, {args.cycles} cycles")
    print("| step | median s | max s |")
    print("|---|---|---|")
    for name, values in rows.items():
        print(f"| {name} | {statistics.median(values):.1f} | {max(values):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
