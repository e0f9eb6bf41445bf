"""One drill at a time per stack: an flock on <state>/faults/drill.lock, whose file names the holder.

Taken by `drill run`, `drill chaos`, the safety control of a plain `chaos run`, `drill heal` and any fault
action called outside a drill. A second drill is refused at once (LockHeld, exit 11) with one line naming
the run in progress: its run id, pid, user and start time.

The kernel drops an flock when its holder dies, so a dead holder never blocks anyone; but a holder that
was killed leaves its record in the file (a clean release empties it). Whoever takes the lock next finds
that record and says so ("took over the lock of run X ...: its process is gone").

A drill runs in several processes: `drill run` takes the lock, then pytest runs the scenarios, whose
steps call the fault actions and run chaostoolkit experiments (whose safety control takes the lock
again). The parent passes the lock to its child: the lock's file descriptor (so the flock outlives the
parent if it is killed while pytest still heals) and a random token in DRILL_LOCK_TOKEN, which is also in
the lock file. A process whose token matches the holder's is part of the drill holding the lock, and
goes on without taking it again; any other is refused. No deadlock, and nothing else can borrow it.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from waqiti_drill.errors import LockHeld
from waqiti_drill.timefmt import now_utc_iso

TOKEN_ENV = "DRILL_LOCK_TOKEN"  # set for the processes of the drill holding the lock
FD_ENV = "DRILL_LOCK_FD"  # the inherited lock descriptor in such a child (made non-inheritable there)


@dataclass(frozen=True)
class Holder:
    run_id: str
    pid: int
    user: str
    started_at: str
    command: str
    token: str = ""

    def line(self) -> str:
        return f"run {self.run_id} (pid {self.pid}, user {self.user}, since {self.started_at}: {self.command})"

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        """The record in the lock file; None for an empty file. An older plain-text record still names its pid."""
        text = text.strip()
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(**{k: data[k] for k in ("run_id", "pid", "user", "started_at", "command")},
                       token=str(data.get("token", "")))
        except (json.JSONDecodeError, KeyError, TypeError):
            words = text.split()
            pid = int(words[1]) if len(words) > 1 and words[0] == "pid" and words[1].isdigit() else 0
            return cls(run_id="unknown", pid=pid, user="unknown", started_at="unknown", command=text)


def alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Held:
    """The lock as this process holds it; `inherited` when the drill's parent holds the flock."""

    holder: Holder
    handle: IO[str] | None
    note: str | None = None  # a stale holder's record was found and replaced
    inherited: bool = False

    def release(self) -> None:
        if self.handle is not None and not self.handle.closed:
            self.handle.seek(0)
            self.handle.truncate()  # a clean release leaves no record: a record means its holder died
            self.handle.close()


class DrillLock:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "faults" / "drill.lock"

    def holder(self) -> Holder | None:
        """Who holds (or, killed, last held) the lock, read without taking it."""
        try:
            return Holder.parse(self.path.read_text())
        except OSError:
            return None

    def acquire(self, run_id: str = "-", command: str | None = None) -> Held:
        """Take the lock for `run_id`, or join the drill of this process tree; LockHeld naming the holder."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fh = open(self.path, "a+")  # noqa: SIM115 - held until release
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = Holder.parse(fh.read())
            fh.close()
            token = os.environ.get(TOKEN_ENV)
            if holder is not None and token and holder.token == token:
                return Held(holder=holder, handle=None, inherited=True)
            shown = holder.line() if holder is not None else f"unknown holder ({self.path})"
            raise LockHeld(f"another drill is in progress on this stack: {shown}") from None
        fh.seek(0)
        previous = Holder.parse(fh.read())
        note = None
        if previous is not None:
            gone = "its process is gone" if not alive(previous.pid) else f"pid {previous.pid} no longer holds it"
            note = f"took over the lock of {previous.line()}: {gone}"
        holder = Holder(run_id=run_id, pid=os.getpid(), user=_user(), started_at=now_utc_iso(),
                        command=command or " ".join(["drill", *sys.argv[1:]])[:200], token=secrets.token_hex(16))
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps(asdict(holder)) + "\n")
        fh.flush()
        return Held(holder=holder, handle=fh, note=note)

    @contextlib.contextmanager
    def held(self, run_id: str = "-", command: str | None = None) -> Iterator[Held]:
        held = self.acquire(run_id, command)
        try:
            yield held
        finally:
            held.release()


def child_env(held: Held) -> dict[str, str]:
    """What a child process of the drill needs to join it (with the descriptor passed by pass_fds)."""
    env = {TOKEN_ENV: held.holder.token}
    if held.handle is not None:
        env[FD_ENV] = str(held.handle.fileno())
    return env


def adopt_inherited_fd() -> None:
    """In a child of the drill: keep the inherited lock descriptor open (it keeps the flock while the child
    runs) but out of this process's own children (servers a heal restarts must never hold the lock)."""
    raw = os.environ.get(FD_ENV, "")
    if raw.isdigit():
        with contextlib.suppress(OSError):
            os.set_inheritable(int(raw), False)


def _user() -> str:
    try:
        return os.getlogin()
    except OSError:
        return getpass.getuser()
