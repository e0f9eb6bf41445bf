"""Benchmark: `check()` on a realistic one-million-operation history (two million lines).

Goal (issue 3): <= 10 s on 2 cores. The history has 16 writer files, postgres transfers and balance reads,
redis sessions and counters over 3 shards, a postgres primary kill in the middle (a few seconds of info
and fail), the fault injector's file and the final read-back. The check runs in a child process so the
figures are its own: wall seconds and peak RSS.

    .venv/bin/python benchmarks/bench_checker.py [--ops 1000000] [--dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import orjson

WALL0 = 1764093600.0
MONO0 = 5000.0
DURATION = 600.0
OUTAGE = 6.0
SHARDS = ("127.0.0.1:25501", "127.0.0.1:25502", "127.0.0.1:25503")
COUNTERS = 64
# transfer, balance, session, incr in proportions 7:3:6:4.
MIX = ["transfer"] * 7 + ["balance"] * 3 + ["session"] * 6 + ["incr"] * 4
FLUSH_LINES = 50_000

CHILD = """
import json, sys, time
from pathlib import Path
started = time.monotonic()
from waqiti_drill.checker import check
from waqiti_drill.config import Targets
result = check(Path(sys.argv[1]), Targets())
elapsed = time.monotonic() - started
hwm = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:'))
print(json.dumps({"seconds": elapsed, "operations": result["operations"], "passed": result["passed"],
                  "rto": result["rto_seconds"], "rpo": result["rpo_seconds"], "lost": result["lost_writes"],
                  "vmhwm_kib": hwm}))
"""


def generate(directory: Path, ops: int, procs: int = 16, seed: int = 7) -> dict[str, Any]:
    """Write the history; returns what the checker should find (for a sanity check of the figures)."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    fault_mono = MONO0 + DURATION / 2
    per_proc = ops // procs
    dt = DURATION / per_proc
    tid = 0
    counters = [0] * COUNTERS
    present_tids: list[int] = []
    present_sessions: list[str] = []
    lines = 0
    for p in range(procs):
        proc = f"w{p + 1}"
        out: list[bytes] = []
        with open(directory / f"ops-{proc}-{1000 + p}.jsonl", "wb") as fh:
            pending: bytes | None = None
            for i in range(per_proc):
                inv_mono = MONO0 + (i + rng.random() * 0.5) * dt + p * dt / procs
                comp_mono = inv_mono + 1.5 * dt
                f = MIX[rng.randrange(len(MIX))]
                value: dict[str, Any]
                if f == "transfer":
                    tid += 1
                    value = {"tid": tid, "from": rng.randrange(1000), "to": rng.randrange(1000), "amount": 100}
                    service, shard = "postgres", "postgres"
                elif f == "balance":
                    value = {"account": rng.randrange(1000)}
                    service, shard = "postgres", "postgres"
                elif f == "session":
                    key = f"s:{proc}-u{i % 4}:{i}"
                    value = {"key": key}
                    service, shard = "redis", SHARDS[zlib.crc32(key.encode()) % 3]
                else:
                    n = rng.randrange(COUNTERS)
                    value = {"key": f"c:{n}"}
                    service, shard = "redis", SHARDS[n % 3]
                outcome = "ok"
                if service == "postgres" and fault_mono - 1.5 * dt <= inv_mono < fault_mono + OUTAGE:
                    outcome = "info" if inv_mono < fault_mono else "fail"
                result: dict[str, Any] = {}
                if outcome == "ok":
                    if f == "transfer":
                        present_tids.append(tid)
                    elif f == "session":
                        present_sessions.append(value["key"])
                    elif f == "incr":
                        counters[n] += 1
                        result = {"result": counters[n]}
                    elif f == "balance":
                        result = {"balance": rng.randrange(10_000)}
                elif outcome == "info" and f == "transfer" and tid % 2:
                    present_tids.append(tid)
                op_id = f"{proc}:{i + 1}"
                base = {"kind": "op", "id": op_id, "proc": f"{proc}-u{i % 4}", "service": service, "shard": shard}
                invoke = orjson.dumps({**base, "type": "invoke", "f": f, "wall": WALL0 + (inv_mono - MONO0),
                                       "mono": inv_mono, "value": value}) + b"\n"
                done = orjson.dumps({**base, "type": outcome, "f": f, "wall": WALL0 + (comp_mono - MONO0),
                                     "mono": comp_mono, "value": result}) + b"\n"
                # Two operations in flight per process: invoke(i+1) comes before completion(i).
                out.append(invoke)
                if pending is not None:
                    out.append(pending)
                pending = done
                lines += 2
                if len(out) >= FLUSH_LINES:
                    fh.write(b"".join(out))
                    out.clear()
            if pending is not None:
                out.append(pending)
            fh.write(b"".join(out))
    with open(directory / "faults.jsonl", "wb") as fh:
        for phase, mono in (("inject", fault_mono), ("heal", fault_mono + 60)):
            fh.write(orjson.dumps({"kind": "fault", "name": "primary_kill", "target": "pg1", "phase": phase,
                                   "wall": WALL0 + (mono - MONO0), "mono": mono, "detail": {}}) + b"\n")
    with open(directory / "final.jsonl", "wb") as fh:
        for start in range(0, len(present_tids), 10_000):
            fh.write(orjson.dumps({"kind": "final", "service": "postgres", "shard": "postgres", "f": "transfer",
                                   "present": present_tids[start:start + 10_000]}) + b"\n")
        for start in range(0, len(present_sessions), 10_000):
            fh.write(orjson.dumps({"kind": "final", "service": "redis", "shard": "*", "f": "session",
                                   "present": present_sessions[start:start + 10_000]}) + b"\n")
        for n, value in enumerate(counters):
            fh.write(orjson.dumps({"kind": "final", "service": "redis", "shard": SHARDS[n % 3], "f": "incr",
                                   "key": f"c:{n}", "value": value}) + b"\n")
        end = MONO0 + DURATION + 5
        fh.write(orjson.dumps({"kind": "final_done", "services": ["postgres", "redis"],
                               "wall": WALL0 + (end - MONO0), "mono": end}) + b"\n")
    return {"operations": per_proc * procs, "lines": lines}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--dir", help="where to write the history (default: a temporary directory, removed)")
    parser.add_argument("--keep", action="store_true", help="keep the generated history")
    parser.add_argument("--reuse", action="store_true", help="do not regenerate when --dir already has a history")
    args = parser.parse_args()
    directory = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="wd-bench-checker-"))
    try:
        if not (args.reuse and list(directory.glob("*.jsonl"))):
            started = time.monotonic()
            expected = generate(directory, args.ops)
            size = sum(p.stat().st_size for p in directory.glob("*.jsonl"))
            print(f"generated {expected['operations']} ops ({expected['lines']} op lines, {size / 2**20:.0f} MiB) "
                  f"in {time.monotonic() - started:.1f}s in {directory}")
        started = time.monotonic()
        run = subprocess.run([sys.executable, "-c", CHILD, str(directory)], capture_output=True, text=True)
        wall = time.monotonic() - started
        if run.returncode != 0:
            raise SystemExit(f"check failed: {run.stderr.strip()}")
        figures = json.loads(run.stdout)
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"{os.cpu_count()} cores; check() {figures['seconds']:.2f}s inside the child, {wall:.2f}s with "
              f"interpreter start; RTO {figures['rto']}s, RPO {figures['rpo']}s, lost {figures['lost']}, "
              f"passed {figures['passed']}")
        print(f"checker: {figures['operations']} ops in {wall:.2f} s, peak RSS {peak_mib:.0f} MiB")
    finally:
        if not args.dir and not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
