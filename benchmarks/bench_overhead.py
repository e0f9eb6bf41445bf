"""Benchmark: the harness's overhead per scenario, i.e. what a drill costs besides its fault's physics.

Runs benchmarks/features/overhead.feature (five scenarios with no fault: load started until it writes
steadily, then the drill's end: heal, Locust stopped, everything read back) through the real `drill run`,
on a stack of its own per checkout (default ports + 6000, the next - 1500: a stack is built by its own
checkout's `drill up`), then `drill report` on the run. Prints the median scenario
time and its phases, and the report's time per scenario. Goal (issue 9): <= 3 s per scenario.

    .venv/bin/python benchmarks/bench_overhead.py [--checkout DIR ...] [--rounds 2]

With --checkout, the same feature is run by the drill of each checkout given (e.g. a worktree of an older
commit) on that checkout's own stack, rounds alternating, so before and after are measured in one run on one
machine (both stacks run throughout, so each round sees the same load).
A checkout that records no phases (older code) shows its scenario times only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FEATURE = ROOT / "benchmarks" / "features" / "overhead.feature"
PHASES = ("harness: load_start_seconds", "harness: steady_load_seconds", "heal_seconds",
          "harness: load_stop_seconds", "harness: read_back_seconds")


def drill(checkout: Path, env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(checkout / ".venv" / "bin" / "drill"), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=checkout)


def ports_toml(checkout: Path, offset: int) -> str:
    """The shifted [ports] table as that checkout knows its ports (an older one knows fewer)."""
    code = f"from tests.integration.stackutil import shifted_ports_toml; print(shifted_ports_toml({offset}), end='')"
    done = subprocess.run([str(checkout / ".venv" / "bin" / "python"), "-c", code], cwd=checkout, capture_output=True,
                          text=True, timeout=60)
    if done.returncode != 0:
        raise SystemExit(f"{checkout}: cannot render its ports: {done.stderr.strip()}")
    return done.stdout


def one_round(checkout: Path, env: dict[str, str], reports: Path, name: str) -> dict[str, object]:
    feature = checkout / "benchmarks" / "features" / "overhead.feature"
    if not feature.is_file():  # an older checkout: run this checkout's feature file with its drill
        feature = FEATURE
    started = time.monotonic()
    run = drill(checkout, env, "run", str(feature), "--run-id", name, "--reports-dir", str(reports), "--no-report")
    wall = time.monotonic() - started
    if run.returncode != 0:
        raise SystemExit(f"{checkout}: drill run failed ({run.returncode}): {run.stdout[-2000:]}{run.stderr[-2000:]}")
    results = json.loads((reports / name / "results.json").read_text())
    started = time.monotonic()
    report = drill(checkout, env, "report", str(reports / name))
    report_seconds = time.monotonic() - started
    if report.returncode != 0:
        raise SystemExit(f"{checkout}: drill report failed: {report.stderr.strip()}")
    return {"wall": wall, "scenarios": [r["duration_seconds"] for r in results],
            "phases": {p: [r["measurements"][p] for r in results if p in r["measurements"]] for p in PHASES},
            "report_per_scenario": report_seconds / len(results)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkout", action="append", type=Path, help="a checkout whose drill to measure (repeat)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    checkouts = [c.resolve() for c in (args.checkout or [ROOT])]
    offsets = [6000, -1500]
    if len(checkouts) > len(offsets):
        raise SystemExit(f"at most {len(offsets)} checkouts (one stack each)")
    stacks: dict[Path, tuple[Path, dict[str, str]]] = {}
    rounds: dict[Path, list[dict[str, object]]] = {c: [] for c in checkouts}
    try:
        for checkout, offset in zip(checkouts, offsets, strict=False):
            base = Path(tempfile.mkdtemp(prefix="wd-bench-overhead-", dir="/tmp"))
            base.chmod(0o755)
            (base / "drill.toml").write_text(ports_toml(checkout, offset))
            env = dict(os.environ, DRILL_STATE_DIR=str(base / "state"), DRILL_CONFIG=str(base / "drill.toml"))
            stacks[checkout] = (base, env)
            up = drill(checkout, env, "up")
            if up.returncode != 0:
                raise SystemExit(f"{checkout}: drill up failed: {up.stderr.strip()}")
        for i in range(args.rounds):
            for n, checkout in enumerate(checkouts):
                base, env = stacks[checkout]
                rounds[checkout].append(one_round(checkout, env, base / "reports", f"round{i}-c{n}"))
    finally:
        for checkout, (base, env) in stacks.items():
            drill(checkout, env, "down", "--purge")
            shutil.rmtree(base, ignore_errors=True)
    print(f"{os.cpu_count()} cores, {args.rounds} round(s) of {len(rounds[checkouts[0]][0]['scenarios'])} no-fault "
          "scenarios per checkout, rounds alternating")
    phase_names = " | ".join(p.split(": ")[-1] for p in PHASES)
    print(f"| checkout | scenario s (median) | {phase_names} | report s/scenario |")
    print("|---|---|" + "---|" * len(PHASES) + "---|")
    for checkout, done in rounds.items():
        scenarios = [s for r in done for s in r["scenarios"]]  # type: ignore[union-attr]
        phases = [statistics.median(v) if (v := [x for r in done for x in r["phases"][p]]) else None  # type: ignore[index]
                  for p in PHASES]
        report = statistics.median(r["report_per_scenario"] for r in done)  # type: ignore[misc]
        shown = " | ".join("-" if v is None else f"{v:.2f}" for v in phases)
        print(f"| {checkout.name} | {statistics.median(scenarios):.2f} | {shown} | {report:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
