"""Benchmark: the wall time of a tagged drill run (e.g. @nightly, @quarterly) for one or more checkouts.

Each checkout runs its own features with `drill run --tags TAGS --no-report` on a stack of its own (built by
its own `drill up`, ports as bench_overhead.py chooses them), rounds alternating between checkouts so both
see the same machine; then `drill report` of each run is timed too.

    .venv/bin/python benchmarks/bench_suite.py --tags nightly [--checkout DIR ...] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_overhead import ROOT, drill, ports_toml  # noqa: E402

OFFSETS = [6000, -1500]


def one_run(checkout: Path, env: dict[str, str], reports: Path, name: str, tags: str) -> dict[str, object]:
    started = time.monotonic()
    run = drill(checkout, env, "run", "--tags", tags, "--run-id", name, "--reports-dir", str(reports), "--no-report",
                timeout=3600)
    wall = time.monotonic() - started
    results = json.loads((reports / name / "results.json").read_text())
    started = time.monotonic()
    drill(checkout, env, "report", str(reports / name), timeout=900)
    report = time.monotonic() - started
    failed = [r["scenario"] for r in results if r["status"] != "passed"]
    durations = {f"{r['feature']}: {r['scenario']}": r["duration_seconds"] or 0.0 for r in results}
    return {"wall": wall, "report": report, "scenarios": len(results), "failed": failed, "rc": run.returncode,
            "durations": durations}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tags", required=True)
    parser.add_argument("--checkout", action="append", type=Path)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    checkouts = [c.resolve() for c in (args.checkout or [ROOT])]
    stacks: dict[Path, tuple[Path, dict[str, str]]] = {}
    done: dict[Path, list[dict[str, object]]] = {c: [] for c in checkouts}
    try:
        for checkout, offset in zip(checkouts, OFFSETS, strict=False):
            base = Path(tempfile.mkdtemp(prefix="wd-bench-suite-", dir="/tmp"))
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
                done[checkout].append(one_run(checkout, env, base / "reports", f"r{i}-c{n}", args.tags))
                print(f"{checkout.name} round {i}: {done[checkout][-1]}", flush=True)
    finally:
        for checkout, (base, env) in stacks.items():
            drill(checkout, env, "down", "--purge")
            shutil.rmtree(base, ignore_errors=True)
    print(f"{os.cpu_count()} cores, --tags {args.tags}, {args.rounds} round(s), rounds alternating")
    common = set.intersection(*(set(runs[0]["durations"]) for runs in done.values()))  # type: ignore[arg-type]
    print(f"| checkout | scenarios | drill run s (median) | the {len(common)} common scenarios s | drill report s | "
          "failed |")
    print("|---|---|---|---|---|---|")
    for checkout, runs in done.items():
        failed = sorted({f for r in runs for f in r["failed"]})  # type: ignore[attr-defined]
        shared = statistics.median(sum(r["durations"][k] for k in common) for r in runs)  # type: ignore[index]
        print(f"| {checkout.name} | {runs[0]['scenarios']} | {statistics.median(r['wall'] for r in runs):.0f} | "  # type: ignore[misc]
              f"{shared:.0f} | {statistics.median(r['report'] for r in runs):.1f} | {', '.join(failed) or '-'} |")  # type: ignore[misc]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
