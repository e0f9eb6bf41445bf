"""Start, find, signal and stop the stack's processes.

Every server is started here, detached into its own session, logging to a file under the state
directory, with a pidfile that also records the process start time (so a reused pid is never
mistaken for ours). Process trees are found by working directory: each server runs with its cwd
inside its own part of the state directory, and PostgreSQL backends inherit the data directory as
cwd. That catches children that changed session or lost their parent, which a pid-tree walk misses,
and it is how `drill down` guarantees that no process is left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from waqiti_drill.errors import CommandFailed, StartupFailed
from waqiti_drill.platform.local.runas import RunAs, make_dir


@dataclass(frozen=True)
class ProcessSpec:
    name: str  # unique, e.g. "etcd", "patroni-pg1", "redis-25501"
    argv: list[str]
    cwd: Path  # inside the state directory; identifies the process tree
    env: dict[str, str] = field(default_factory=dict)
    netns: str | None = None  # run inside this network namespace (a PostgreSQL member in netns mode)


def _proc_start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name may contain spaces and parentheses: split after the last ')'
    rest = stat[stat.rindex(")") + 2 :].split()
    if rest[0] == "Z":
        return None
    return rest[19]


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


class Supervisor:
    def __init__(self, state_dir: Path, user: RunAs) -> None:
        self.state_dir = state_dir
        self.user = user
        self.run_dir = state_dir / "run"
        self.log_dir = state_dir / "logs"

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _pidfile(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def start(self, spec: ProcessSpec) -> int:
        """Start `spec` detached, unless it already runs; returns its pid."""
        running = self.pid_of(spec.name)
        if running:
            return running
        make_dir(self.user, self.run_dir)
        make_dir(self.user, self.log_dir)
        env = self.user.env({"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"})
        env.update(spec.env)
        argv, preexec = spec.argv, self.user.preexec()
        if spec.netns:
            argv, preexec = self.user.in_netns(spec.netns, spec.argv), None
        with open(self.log_path(spec.name), "ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} start {spec.name}\n".encode())
            log.flush()
            try:
                proc = subprocess.Popen(
                    argv,
                    cwd=spec.cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=preexec,  # noqa: PLW1509 - privilege drop needs it
                )
            except OSError as exc:
                raise StartupFailed(f"could not start {spec.name} ({spec.argv[0]}): {exc}") from None
        started = _proc_start_time(proc.pid)
        record = {"pid": proc.pid, "start_time": started, "argv0": spec.argv[0], "cwd": str(spec.cwd)}
        self._pidfile(spec.name).write_text(json.dumps(record))
        return proc.pid

    def pid_of(self, name: str) -> int | None:
        """The pid of `name` if the process we started is still alive (not a zombie, not a reused pid)."""
        try:
            record = json.loads(self._pidfile(name).read_text())
        except (OSError, json.JSONDecodeError):
            return None
        pid = int(record["pid"])
        _reap(pid)
        if _proc_start_time(pid) is None or _proc_start_time(pid) != record.get("start_time"):
            return None
        return pid

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.run_dir.glob("*.pid")) if self.run_dir.exists() else []

    def check_alive(self, name: str, what: str) -> None:
        """Raise StartupFailed with the tail of the log when `name` has died."""
        if self.pid_of(name) is None:
            raise StartupFailed(f"{what} exited during start-up; last log line: {self.last_log_line(name)}")

    def last_log_line(self, name: str) -> str:
        try:
            lines = [ln for ln in self.log_path(name).read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return "(no log)"
        return lines[-1][:300] if lines else "(empty log)"

    def pids_under(self, path: Path) -> list[int]:
        """Every live process whose working directory is `path` or below it (never this process)."""
        target = str(path.resolve())
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            cwd = cwd.removesuffix(" (deleted)")
            if (cwd == target or cwd.startswith(target + "/")) and _proc_start_time(int(entry.name)):
                found.append(int(entry.name))
        return found

    def signal_under(self, path: Path, sig: signal.Signals) -> list[int]:
        """Send `sig` to a snapshot of every process under `path` at once (a whole 'pod')."""
        pids = self.pids_under(path)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        return pids

    def freeze_under(self, path: Path, timeout: float = 5.0) -> list[int]:
        """SIGSTOP every process under `path` and return once all of them are stopped.

        SIGSTOP takes effect asynchronously, and a frozen-in-progress postmaster may still fork a
        backend: the snapshot is re-taken and re-signalled until every process reads as stopped in
        /proc, so the caller's fault instant is when the member really stopped answering.
        """
        deadline = time.monotonic() + timeout
        while True:
            pids = self.signal_under(path, signal.SIGSTOP)
            running = [pid for pid in pids if _proc_state(pid) not in ("T", "t", "Z", "X", "")]
            if not running:
                return pids
            if time.monotonic() > deadline:
                raise CommandFailed(f"processes {running} under {path} did not stop within {timeout:.0f}s of SIGSTOP")
            time.sleep(0.005)

    def stopped_under(self, path: Path) -> list[str]:
        """'pid N (cwd)' for every process under `path` that is stopped by a signal (state T)."""
        out = []
        for pid in self.pids_under(path):
            if _proc_state(pid) in ("T", "t"):
                try:
                    cwd = os.readlink(f"/proc/{pid}/cwd")
                except OSError:
                    continue
                out.append(f"pid {pid} ({cwd})")
        return out

    def stop(self, names: list[str], grace: float) -> None:
        """SIGTERM `names` together, wait up to `grace` seconds, then SIGKILL what is left.

        What is left includes every process under each one's working directory, so a postmaster that
        Patroni started in a session of its own goes with it, as it would with its pod.
        """
        pids = [pid for pid in (self.pid_of(n) for n in names) if pid]
        for pid in pids:
            _signal_group(pid, signal.SIGCONT)  # a frozen process cannot act on SIGTERM
            _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(self.pid_of(n) for n in names):
            time.sleep(0.1)
        for name in names:
            pid = self.pid_of(name)
            if pid:
                _signal_group(pid, signal.SIGKILL)
            cwd = self._recorded_cwd(name)
            if cwd is not None:
                self.kill_everything_under(cwd)
            self._pidfile(name).unlink(missing_ok=True)

    def _recorded_cwd(self, name: str) -> Path | None:
        try:
            cwd = json.loads(self._pidfile(name).read_text()).get("cwd")
        except (OSError, json.JSONDecodeError):
            return None
        return Path(cwd) if cwd else None

    def kill_everything_under(self, path: Path, timeout: float = 5.0) -> None:
        """SIGKILL every process under `path` until none is left (children may appear while we kill)."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.signal_under(path, signal.SIGKILL)
            for pid in pids:
                _reap(pid)
            if not pids:
                return
            if time.monotonic() > deadline:
                raise StartupFailed(f"processes under {path} survived SIGKILL: {pids}")
            time.sleep(0.05)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _proc_state(pid: int) -> str:
    """The one-letter state of a process from /proc/<pid>/stat ('' when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat[stat.rindex(")") + 2]


def process_state(pid: int) -> str:
    """The one-letter state of a process ('' when gone), for primitives that stop one process of a tree."""
    return _proc_state(pid)
