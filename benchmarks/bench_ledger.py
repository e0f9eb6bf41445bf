"""Benchmark: the Locust ledger workload's throughput against pgbench running the same statement.

Goal (issue 3): Locust's transfers per second >= 0.8 x pgbench's at the same concurrency, in the
same run. Both go through the read-write endpoint (HAProxy, TLS verify-full, SCRAM), both use
prepared statements, both run the one-statement transfer from waqiti_drill.workload.ledger, and
rounds alternate (Locust, pgbench, Locust, pgbench, ...) so drift on a shared machine hits both.
pgbench draws each transfer id at random from 2^62 (it has no per-client counter); Locust's ids are
sequential. pgbench gets as many threads as Locust has load processes. Runs its own stack on the
default ports + 5000 and removes it at the end.

    .venv/bin/python benchmarks/bench_ledger.py [--clients 2,4,8] [--seconds 20] [--rounds 2] [--workers 0]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.integration.stackutil import DRILL, StackUnderTest, shifted_ports_toml  # noqa: E402
from waqiti_drill.workload.ledger import TRANSFER_SQL  # noqa: E402
from waqiti_drill.workload.runner import LoadSpec  # noqa: E402
from waqiti_drill.workload.session import LoadSession  # noqa: E402

WARMUP = 3.0  # seconds of each Locust run left out (users spawning, statements being prepared)


def pgbench_script(accounts: int) -> str:
    statement = (TRANSFER_SQL.replace("%(src)s", ":src").replace("%(dst)s", ":dst").replace("%(amount)s", ":amount")
                 .replace("%(run)s", "'pgbench'").replace("%(tid)s", ":tid"))
    return "\n".join([
        f"\\set src random(1, {accounts})",
        f"\\set off random(1, {accounts - 1})",
        f"\\set dst 1 + (:src - 1 + :off) % {accounts}",
        "\\set amount random(1, 100)",
        "\\set tid random(1, 4611686018427387904)",
        " ".join(statement.split()) + ";",
        "",
    ])


def locust_tps(platform: object, work: Path, clients: int, seconds: float, workers: int) -> float:
    spec = LoadSpec(profile="steady", users=clients, wait=0.0, services=("postgres",), classes=("LedgerWriter",),
                    workers=workers, duration=seconds)
    session = LoadSession(platform, work, spec).start()  # type: ignore[arg-type]
    session.load.wait(seconds + 60)  # type: ignore[union-attr]
    acks = []
    for path in session.history_dir.glob("ops-*.jsonl"):
        acks += [r["mono"] for r in map(json.loads, path.read_text().splitlines()) if r["type"] == "ok"]
    acks.sort()
    start = acks[0] + WARMUP
    window = [t for t in acks if t >= start]
    return len(window) / (window[-1] - start)


def pgbench_tps(platform: object, work: Path, clients: int, seconds: float, threads: int) -> float:
    kwargs = platform.postgres_connect_kwargs()  # type: ignore[attr-defined]
    script = work / "transfer.sql"
    script.write_text(pgbench_script(1000))
    env = dict(os.environ, PGPASSWORD=str(kwargs["password"]))
    argv = ["/usr/lib/postgresql/15/bin/pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", str(threads),
            "-T", str(int(seconds)), "-f", str(script), str(kwargs["conninfo"])]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 120)
    if out.returncode != 0:
        raise SystemExit(f"pgbench failed: {out.stderr.strip()}")
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out.stdout)
    if not match:
        raise SystemExit(f"pgbench printed no tps: {out.stdout}")
    return float(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=lambda v: [int(c) for c in v.split(",")], default=[2, 4, 8],
                        help="comma-separated concurrencies to compare at (default 2,4,8)")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0, help="Locust worker processes (0: one local process)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="wd-bench-ledger-", dir="/tmp"))
    base.chmod(0o755)
    config = base / "drill.toml"
    config.write_text(shifted_ports_toml(5000))
    env = dict(os.environ, DRILL_STATE_DIR=str(base / "state"), DRILL_CONFIG=str(config))
    sut = StackUnderTest(env=env, state_dir=base / "state", config=config)
    try:
        up = subprocess.run([*DRILL, "up"], env=env, capture_output=True, text=True, timeout=600)
        if up.returncode != 0:
            raise SystemExit(f"drill up failed: {up.stderr.strip()}")
        platform = sut.platform()
        # pgbench gets as many threads as Locust has load processes: one event loop per process on
        # both sides (-j 1 against one Locust process, -j N against N workers).
        threads = max(1, args.workers)
        for clients in args.clients:
            ours, theirs = [], []
            for r in range(args.rounds):
                ours.append(locust_tps(platform, base / f"locust-{clients}-{r}", clients, args.seconds, args.workers))
                theirs.append(pgbench_tps(platform, base, clients, args.seconds, threads))
                print(f"  {clients} clients, round {r + 1}: locust {ours[-1]:.0f} transfers/s, "
                      f"pgbench {theirs[-1]:.0f} tps", flush=True)
            mean_ours, mean_theirs = statistics.mean(ours), statistics.mean(theirs)
            print(f"ledger: {clients} clients, {args.seconds:g}s x {args.rounds} rounds, "
                  f"locust workers={args.workers}, pgbench -j {threads}: "
                  f"locust {mean_ours:.0f}/s, pgbench {mean_theirs:.0f}/s, ratio {mean_ours / mean_theirs:.2f} "
                  f"(goal >= 0.8)", flush=True)
        return 0
    finally:
        subprocess.run([*DRILL, "down", "--purge"], env=env, capture_output=True, timeout=300)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
