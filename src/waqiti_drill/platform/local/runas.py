"""Who the stack's processes run as, and files written for them.

PostgreSQL refuses to run as root, so when the harness is root every server runs as an
unprivileged account (the Debian `postgres` user); otherwise everything runs as the caller.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from waqiti_drill.errors import InvalidConfig, StateDirError


@dataclass(frozen=True)
class RunAs:
    name: str
    uid: int
    gid: int
    home: str

    @property
    def switching(self) -> bool:
        """True when children must drop privileges (we are root and they must not be)."""
        return os.geteuid() != self.uid

    def preexec(self) -> Callable[[], None] | None:
        if not self.switching:
            return None
        uid, gid, name = self.uid, self.gid, self.name

        def drop() -> None:
            os.initgroups(name, gid)
            os.setgid(gid)
            os.setuid(uid)

        return drop

    def in_netns(self, netns: str, argv: list[str]) -> list[str]:
        """`argv` run inside network namespace `netns` as this user.

        Entering a namespace needs root, so the privilege drop moves from preexec into the command:
        `ip netns exec` (which also bind-mounts /etc/netns/<ns>/hosts over /etc/hosts) execs setpriv,
        which execs `argv`; the pid stays the same throughout, so the supervisor's pidfile stays right.
        """
        ip = shutil.which("ip") or "/usr/sbin/ip"
        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        drop = [setpriv, f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups", "--"] if self.switching else []
        return [ip, "netns", "exec", netns, *drop, *argv]

    def env(self, base: dict[str, str]) -> dict[str, str]:
        env = dict(base)
        env.update(HOME=self.home, USER=self.name, LOGNAME=self.name)
        return env


def resolve_run_user(name: str) -> RunAs:
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
    else:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise InvalidConfig(
                f"user '{name}' does not exist; database processes cannot run as root "
                "(install postgresql or set run_user in the config file)"
            ) from None
        if entry.pw_uid == 0:
            raise InvalidConfig("run_user must not be root: PostgreSQL refuses to run as root")
    return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


def check_reachable(user: RunAs, path: Path, what: str) -> None:
    """Every parent of `path` must be searchable by `user`, or its servers cannot open their files."""
    if not user.switching:
        return
    for parent in [*reversed(path.absolute().parents)]:
        try:
            st = parent.stat()
        except FileNotFoundError:
            return
        if not _can_search(st, user):
            raise StateDirError(
                f"{what} {path} is not reachable by user '{user.name}': {parent} is not searchable "
                f"by it; choose a path under a world-searchable directory (e.g. /var/lib/waqiti-drill)"
            )


def can_execute(user: RunAs, path: Path) -> bool:
    """Whether `user` may traverse to and execute `path` (the interpreter it will run)."""
    if not user.switching:
        return os.access(path, os.X_OK)
    try:
        for parent in path.absolute().parents:
            if not _can_search(parent.stat(), user):
                return False
        st = path.resolve().stat()
    except OSError:
        return False
    return bool(st.st_mode & stat.S_IXOTH) or (st.st_uid == user.uid and bool(st.st_mode & stat.S_IXUSR))


def _can_search(st: os.stat_result, user: RunAs) -> bool:
    if st.st_uid == user.uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == user.gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def give(user: RunAs, path: Path) -> None:
    """Hand a file or directory (not recursively) to the run user."""
    if user.switching:
        os.chown(path, user.uid, user.gid)


def make_dir(user: RunAs, path: Path, mode: int = 0o700) -> Path:
    """Create `path` (and parents inside it) owned by the run user."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    give(user, path)
    return path


def write_file(user: RunAs, path: Path, text: str | bytes, mode: int = 0o600) -> Path:
    """Write a file the run user owns with `mode`, atomically, so a crash never leaves half a config."""
    tmp = path.with_name(path.name + ".tmp")
    data = text.encode() if isinstance(text, str) else text
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, mode)
    give(user, tmp)
    os.replace(tmp, path)
    return path
