"""Benchmark: `drill report` on a run whose one scenario has a large history (default 1,000,000 operations,
the checker benchmark's generator), then `drill evidence verify` of it. Prints wall seconds of each and
the sizes of report.html and the run directory.

    .venv/bin/python benchmarks/bench_report.py [--ops 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_checker import generate  # noqa: E402
from tests.rundirs import manifest, result_from_check  # noqa: E402
from waqiti_drill.checker import check  # noqa: E402
from waqiti_drill.config import Targets  # noqa: E402
from waqiti_drill.results import write_manifest, write_results  # noqa: E402

DRILL = [sys.executable, "-m", "waqiti_drill.cli"]


def timed(*args: str, env: dict[str, str]) -> float:
    started = time.monotonic()
    done = subprocess.run([*DRILL, *args], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"drill {' '.join(args)} failed: {done.stderr.strip()}")
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=1_000_000)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-report-"))
    try:
        run_dir = base / "reports" / "bench"
        scenario = run_dir / "scenarios" / "primary_kill"
        generate(scenario / "history", args.ops)
        result = result_from_check(run_dir, scenario, check(scenario / "history", Targets()), feature="failover",
                                   scenario="Primary kill", tags=["quarterly"], hypothesis="benchmark")
        write_results(run_dir, [result])
        write_manifest(run_dir, manifest("bench"))
        # A stack's worth of secrets to scan for, as `drill report` finds them in <state>/secrets.json.
        (base / "state").mkdir()
        (base / "state" / "secrets.json").write_text(json.dumps({f"s{i}": os.urandom(18).hex() for i in range(10)}))
        env = {k: v for k, v in os.environ.items() if not k.startswith("DRILL_")}
        env.update(DRILL_STATE_DIR=str(base / "state"), DRILL_SIGNING_KEY=str(base / "key.pem"))
        report_s = timed("report", str(run_dir), env=env)
        verify_s = timed("evidence", "verify", str(run_dir), env=env)
        html = (run_dir / "evidence" / "report.html").stat().st_size
        total = sum(p.stat().st_size for p in run_dir.rglob("*") if p.is_file())
        print(json.dumps({"operations": args.ops, "report_seconds": round(report_s, 1),
                          "verify_seconds": round(verify_s, 1), "report_html_bytes": html,
                          "run_dir_bytes": total}, indent=1))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
