"""Run a short-lived tool (pgbackrest, redis-cli) as the run user and fail with one clear line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from waqiti_drill.errors import CommandFailed
from waqiti_drill.platform.local.runas import RunAs


def run_tool(
    user: RunAs,
    argv: list[str],
    what: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120.0,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run `argv` as `user`; secrets go in `env` (never argv). Raises CommandFailed naming `what`."""
    full_env = user.env({"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"})
    full_env.update(env or {})
    return _run(argv, what, timeout, check, env=full_env, cwd=cwd or "/",
                preexec_fn=user.preexec())  # noqa: PLW1509 - privilege drop needs it

def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:400] if lines else "(no output)"


def run_privileged(argv: list[str], what: str, input_text: str | None = None, timeout: float = 30.0,
                   check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `argv` as the harness itself (root: `ip`, `iptables`); CommandFailed names `what`."""
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LANG": "C"}
    return _run(argv, what, timeout, check, env=env, input=input_text)


def _run(argv: list[str], what: str, timeout: float, check: bool,
         **kwargs: Any) -> subprocess.CompletedProcess[str]:  # noqa: ANN401
    """subprocess.run with output captured; every failure becomes one CommandFailed naming `what`."""
    try:
        # errors="replace": a tool may print bytes that are not UTF-8 (pgBackRest, given a wrong cipher
        # passphrase, quotes what it "decrypted")
        proc = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired:
        raise CommandFailed(f"{what}: {Path(argv[0]).name} did not finish within {timeout:g}s") from None
    except OSError as exc:
        raise CommandFailed(f"{what}: could not run {argv[0]}: {exc}") from None
    if check and proc.returncode != 0:
        raise CommandFailed(f"{what} failed (exit {proc.returncode}): {last_line(proc.stderr or proc.stdout)}")
    return proc
