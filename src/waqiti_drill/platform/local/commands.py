"""Run a short-lived tool (pgbackrest, redis-cli) as the run user and fail with one clear line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

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
    try:
        proc = subprocess.run(
            argv,
            env=full_env,
            cwd=cwd or "/",
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=user.preexec(),  # noqa: PLW1509 - privilege drop needs it
        )
    except subprocess.TimeoutExpired:
        raise CommandFailed(f"{what}: {Path(argv[0]).name} did not finish within {timeout:g}s") from None
    except OSError as exc:
        raise CommandFailed(f"{what}: could not run {argv[0]}: {exc}") from None
    if check and proc.returncode != 0:
        raise CommandFailed(f"{what} failed (exit {proc.returncode}): {last_line(proc.stderr or proc.stdout)}")
    return proc


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:400] if lines else "(no output)"


def run_privileged(argv: list[str], what: str, input_text: str | None = None, timeout: float = 30.0,
                   check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `argv` as the harness itself (root: `ip`, `iptables`); CommandFailed names `what`."""
    try:
        proc = subprocess.run(argv, input=input_text, capture_output=True, text=True, timeout=timeout,
                              env={"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LANG": "C"})
    except subprocess.TimeoutExpired:
        raise CommandFailed(f"{what}: {Path(argv[0]).name} did not finish within {timeout:g}s") from None
    except OSError as exc:
        raise CommandFailed(f"{what}: could not run {argv[0]}: {exc}") from None
    if check and proc.returncode != 0:
        raise CommandFailed(f"{what} failed (exit {proc.returncode}): {last_line(proc.stderr or proc.stdout)}")
    return proc
