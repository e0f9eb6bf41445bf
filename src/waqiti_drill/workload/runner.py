"""Running Locust under the harness: its own process (gevent patching stays out of the harness),
headless, with its statistics as CSV in the run directory and the history next to them.

`workers=0` runs one local Locust process; `workers=N` runs a master that only coordinates and N
worker processes that run the users, each recording its own history file.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from waqiti_drill.errors import CommandFailed, InvalidConfig
from waqiti_drill.workload.profiles import SHAPES
from waqiti_drill.workload.targets import PG_PASSWORD_ENV, REDIS_PASSWORD_ENV, TARGETS_ENV

USER_CLASSES = {
    "postgres": ["LedgerWriter", "BalanceReader"],
    "redis": ["SessionWriter", "CounterWriter"],
}
STOP_TIMEOUT = 15  # seconds a user gets to finish its operation when the load stops


def locustfile() -> Path:
    """loadprofiles/locustfile.py of this checkout (DRILL_LOCUSTFILE overrides)."""
    path = Path(os.environ.get("DRILL_LOCUSTFILE") or Path(__file__).resolve().parents[3] / "loadprofiles"
                / "locustfile.py")
    if not path.is_file():
        raise InvalidConfig(f"locustfile not found: {path} (set DRILL_LOCUSTFILE)")
    return path


@dataclass(frozen=True)
class LoadSpec:
    profile: str = "drill"
    users: int = 12
    duration: float | None = None  # None: until stop()
    wait: float = 0.01  # pause between one user's operations
    services: tuple[str, ...] = ("postgres", "redis")
    workers: int = 0
    classes: tuple[str, ...] = ()  # a subset of the services' user classes (benchmarks); empty: all

    def check(self) -> None:
        if self.profile not in SHAPES:
            raise InvalidConfig(f"unknown load profile '{self.profile}'; known: {', '.join(SHAPES)}")
        unknown = [s for s in self.services if s not in USER_CLASSES]
        if unknown or not self.services:
            raise InvalidConfig(f"unknown service(s) {unknown or self.services!r}; known: {', '.join(USER_CLASSES)}")
        if self.users < 1 or self.workers < 0 or self.wait < 0 or (self.duration is not None and self.duration <= 0):
            raise InvalidConfig("users must be >= 1, workers >= 0, wait >= 0 and duration > 0")
        known = [name for service in self.services for name in USER_CLASSES[service]]
        if any(c not in known for c in self.classes):
            raise InvalidConfig(f"unknown user class(es) {list(self.classes)}; known: {', '.join(known)}")

    def user_classes(self) -> list[str]:
        return list(self.classes) or [name for service in self.services for name in USER_CLASSES[service]]


@dataclass
class LoadRun:
    run_dir: Path
    spec: LoadSpec
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @property
    def logs(self) -> list[Path]:
        return sorted(self.run_dir.glob("locust*.log"))

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.processes)

    @property
    def stop_file(self) -> Path:
        return self.run_dir / "locust.stop"

    def stop(self, timeout: float = STOP_TIMEOUT + 30) -> None:
        """Ask Locust to end (users finish or record their operation), wait, insist on a clean exit.

        Only when it does not end in time is it killed, and that is reported as a failure: the
        history of a killed load process may be incomplete.
        """
        self.stop_file.touch()
        deadline = time.monotonic() + timeout
        for proc in self.processes:
            try:
                proc.wait(max(deadline - time.monotonic(), 1.0))
            except subprocess.TimeoutExpired:
                self.stop_quietly()
                logs = f"{self.run_dir}/locust*.log"
                raise CommandFailed(f"Locust did not stop within {timeout:.0f}s and was killed; see {logs}") from None
        self.check_exit()

    def wait_ready(self, history_dir: Path, timeout: float = 60.0) -> None:
        """Until every user-running process has opened its history file; a process that exits first
        fails the start with the end of its output."""
        expected = max(self.spec.workers, 1)
        deadline = time.monotonic() + timeout
        while len(list(history_dir.glob("ops-*.jsonl"))) < expected:
            dead = [p for p in self.processes if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                self.stop_quietly()
                raise CommandFailed(f"Locust did not start: {self._last_error()} (see {self.run_dir}/locust-*.out)")
            time.sleep(0.1)

    def stop_quietly(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
            proc.wait()

    def _last_error(self) -> str:
        for out in sorted(self.run_dir.glob("locust-*.out")):
            lines = [line for line in out.read_text(errors="replace").splitlines() if line.strip()]
            errors = [line for line in lines if "Error" in line or "error" in line]
            if errors:
                return errors[-1].strip()
        return "no history file appeared in time"

    def wait(self, timeout: float) -> None:
        """Wait for a run with a duration to end by itself."""
        try:
            self.processes[0].wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise CommandFailed(f"Locust ran past its duration by {timeout:.0f}s and was stopped") from None
        for proc in self.processes[1:]:
            proc.wait(STOP_TIMEOUT + 30)
        self.check_exit()

    def check_exit(self) -> None:
        bad = [(i, p.returncode) for i, p in enumerate(self.processes) if p.returncode != 0]
        if bad:
            detail = ", ".join(f"{'master' if i == 0 and len(self.processes) > 1 else 'process'} {i} exited {rc}"
                               for i, rc in bad)
            hint = "3 means the history could not be written completely" if any(rc == 3 for _, rc in bad) else ""
            detail += f"; {hint}" if hint else ""
            raise CommandFailed(f"Locust failed ({detail}); see {self.run_dir}/locust*.log")


def start(targets_file: Path, run_dir: Path, spec: LoadSpec, pg_password: str, redis_password: str) -> LoadRun:
    """Start Locust on the targets; returns once its processes are running (not once users are)."""
    spec.check()
    run_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update({
        TARGETS_ENV: str(targets_file),
        PG_PASSWORD_ENV: pg_password,
        REDIS_PASSWORD_ENV: redis_password,
        "DRILL_LOAD_PROFILE": spec.profile,
        "DRILL_LOAD_USERS": str(spec.users),
        "DRILL_LOAD_WAIT": str(spec.wait),
    })
    env.pop("DRILL_LOAD_DURATION", None)
    if spec.duration is not None:
        env["DRILL_LOAD_DURATION"] = str(spec.duration)
    base = [sys.executable, "-m", "locust", "-f", str(locustfile()), "--loglevel", "INFO"]
    # --csv-full-history: Locust's own per-interval statistics, kept with the run as evidence only. No figure and
    # no guard reads them: the abort guard and every count read the history (checker.load.HistoryTail).
    master = [*base, "--headless", "--csv", str(run_dir / "locust"), "--csv-full-history", "--only-summary",
              "--stop-timeout", str(STOP_TIMEOUT), "--exit-code-on-error", "0", *spec.user_classes()]
    run = LoadRun(run_dir, spec)
    run.stop_file.unlink(missing_ok=True)
    env["DRILL_LOAD_STOP_FILE"] = str(run.stop_file)
    if spec.workers == 0:
        run.processes.append(_spawn([*master, "--logfile", str(run_dir / "locust.log")], run_dir, env, "p0", 0))
        return run
    port = _free_port()
    master += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
               "--expect-workers", str(spec.workers), "--logfile", str(run_dir / "locust-master.log")]
    run.processes.append(_spawn(master, run_dir, env, "master", 0))
    for i in range(1, spec.workers + 1):
        worker = [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port),
                  "--logfile", str(run_dir / f"locust-w{i}.log")]
        run.processes.append(_spawn(worker, run_dir, env, f"w{i}", i))
    return run


def _spawn(argv: list[str], cwd: Path, env: dict[str, str], name: str, index: int) -> subprocess.Popen[bytes]:
    env = dict(env, DRILL_PROCESS=name, DRILL_PROCESS_INDEX=str(index))
    out = open(cwd / f"locust-{name}.out", "ab")  # noqa: SIM115 - the child keeps it
    try:
        return subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    finally:
        out.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

