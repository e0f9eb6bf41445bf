"""A chaostoolkit control that makes every experiment safe to run against a shared stack.

Declared in each scenario (controls: - name: waqiti-drill-safety, provider: {type: python, module:
waqiti_drill.faults.controls}), so it also applies to a plain `chaos run`:

- before the experiment: take the drill lock (one drill at a time per stack) and refuse to start
  when the platform is not healthy, or when the ledger still holds faults of an earlier run;
- during it: an abort guard watches Locust's statistics of the run (when there is one); when the
  error ratio stays above `abort_error_ratio` for longer than the RTO target, it interrupts the
  experiment, which then runs its rollbacks (the heal);
- after it: release the lock.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from chaoslib.exceptions import InterruptExecution

from waqiti_drill.errors import LockHeld
from waqiti_drill.faults import health
from waqiti_drill.faults.context import Configuration, ledger_of, platform_of, run_dir_of, settings_of
from waqiti_drill.history import WRITE_FUNCTIONS

logger = logging.getLogger("chaostoolkit")
_lock: IO[str] | None = None
_guard: AbortGuard | None = None
refused = False  # this process's drill was refused at start: its rollbacks must not touch the platform


class DrillLock:
    """An flock on <state>/faults/drill.lock, held for a whole drill; the file names the holder."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "faults" / "drill.lock"

    def acquire(self) -> IO[str]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fh = open(self.path, "a+")  # noqa: SIM115 - held until release
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise LockHeld(f"another drill holds the lock {self.path} ({holder})") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
        fh.flush()
        return fh

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        fh = self.acquire()
        try:
            yield
        finally:
            fh.close()


def holds_lock() -> bool:
    """True in the process running a drill that passed its start checks."""
    return _lock is not None and not refused


def before_experiment_control(context: dict, configuration: Configuration = None, **_kw: Any) -> None:  # noqa: ANN401
    global _lock, _guard, refused
    refused = True  # until every check below has passed
    if _lock is None:
        try:
            _lock = DrillLock(settings_of(configuration).state_dir).acquire()
        except LockHeld as exc:
            raise InterruptExecution(str(exc)) from None
    left = ledger_of(configuration).active()
    if left:
        raise InterruptExecution("faults of an earlier run are still active ("
                                 + ", ".join(f"{f.kind} {f.target}" for f in left) + "); run 'drill heal' first")
    problems = health.problems(platform_of(configuration))
    if problems:
        raise InterruptExecution("the target is not healthy: " + "; ".join(problems))
    refused = False
    run_dir = run_dir_of(configuration)
    conf = configuration or {}
    if run_dir is not None:
        _guard = AbortGuard(run_dir / "locust_stats_history.csv", float(conf.get("abort_error_ratio", 0.5)),
                            float(conf.get("abort_after_seconds", settings_of(configuration).targets.rto_seconds)))
        _guard.start()


def after_experiment_control(context: dict, state: Any = None, **_kw: Any) -> None:  # noqa: ANN401
    global _lock, _guard, refused
    if _guard is not None:
        _guard.stop()
        _guard = None
    if _lock is not None:
        _lock.close()
        _lock = None
    refused = False


class AbortGuard(threading.Thread):
    """Interrupts the experiment when the load's error ratio stays above a bound for too long.

    Reads the Locust stats history CSV (rewritten every couple of seconds by the load process); the
    interruption goes through chaoslib.exit, which signals the main thread so rollbacks run.
    """

    def __init__(self, stats: Path, ratio: float, seconds: float) -> None:
        super().__init__(name="drill-abort-guard", daemon=True)
        self.stats, self.ratio, self.seconds = stats, ratio, seconds
        self._stopping = threading.Event()
        self.tripped: str | None = None

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        above_since: float | None = None
        while not self._stopping.wait(2.0):
            ratio = latest_error_ratio(self.stats)
            if ratio is None or ratio <= self.ratio:
                above_since = None
                continue
            above_since = above_since or time.monotonic()
            if time.monotonic() - above_since > self.seconds:
                self.tripped = f"error ratio {ratio:.2f} above {self.ratio:.2f} for over {self.seconds:g}s"
                logger.error(f"aborting the experiment: {self.tripped}")
                from chaoslib.exit import exit_gracefully

                exit_gracefully()
                return


def latest_error_ratio(stats: Path) -> float | None:
    """Failures/s over requests/s of the WRITES in the newest interval of a Locust stats history CSV
    (written with --csv-full-history). Reads are left out: replicas keep serving them through a
    primary outage, and would hide it. Without per-operation rows, the 'Aggregated' row is used."""
    try:
        with open(stats, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError:
        return None
    if not rows:
        return None
    newest = rows[-1].get("Timestamp")
    current = [r for r in rows if r.get("Timestamp") == newest]
    chosen = [r for r in current if r.get("Name") in WRITE_FUNCTIONS] or [r for r in current
                                                                          if r.get("Name") == "Aggregated"]
    try:
        requests = sum(float(r["Requests/s"]) for r in chosen)
        failures = sum(float(r["Failures/s"]) for r in chosen)
    except (KeyError, ValueError):
        return None
    if not chosen:
        return None
    return failures / requests if requests > 0 else (1.0 if failures > 0 else None)
