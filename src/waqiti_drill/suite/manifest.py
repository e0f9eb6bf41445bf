"""The RunManifest's facts: who ran the drill, on what, with which component versions and settings.

Versions are read from the servers where they answer (PostgreSQL, Redis) and from the binaries otherwise;
a component that cannot be read says why ("unknown: ...") rather than being left out or guessed.
"""

from __future__ import annotations

import dataclasses
import getpass
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from waqiti_drill.config import Settings
from waqiti_drill.platform.base import Platform

VERSION = re.compile(r"(\d+\.\d+(?:\.\d+)?)")


def operator() -> str:
    """$DRILL_OPERATOR, else the login user (the person at the terminal, not the account sudo gave)."""
    if os.environ.get("DRILL_OPERATOR"):
        return os.environ["DRILL_OPERATOR"]
    try:
        return os.getlogin()
    except OSError:
        return getpass.getuser()


def settings_sha256(settings: Settings) -> str:
    """sha256 of the effective settings as canonical JSON. Settings hold no secrets (those live in
    secrets.json and DRILL_* variables), so nothing needs leaving out here; the state directory is kept:
    it says which stack was drilled."""
    data = dataclasses.asdict(settings)
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _binary_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown: {type(exc).__name__}"
    match = VERSION.search(out.stdout + out.stderr)
    return match.group(1) if match else f"unknown: {argv[0]} printed no version"


def _which(name: str, extra: tuple[str, ...] = ()) -> str:
    import shutil

    for d in extra:
        if (Path(d) / name).exists():
            return str(Path(d) / name)
    return shutil.which(name) or name


def component_versions(platform: Platform) -> dict[str, str]:
    from waqiti_drill.platform.local.patroni import PG_BIN, patroni_executable

    venv_bin = (str(Path(sys.executable).parent),)
    versions = {
        "postgres": _server_postgres(platform) or _binary_version([str(PG_BIN / "postgres"), "--version"]),
        "patroni": _binary_version([str(patroni_executable()), "--version"]),
        "etcd": _binary_version([_which("etcd"), "--version"]),
        "redis": _server_redis(platform) or _binary_version([_which("redis-server"), "--version"]),
        "pgbackrest": _binary_version([_which("pgbackrest"), "version"]),
        "haproxy": _binary_version([_which("haproxy"), "-v"]),
        "weed": _binary_version([_which("weed", venv_bin), "version"]),
    }
    return versions


def _server_postgres(platform: Platform) -> str | None:
    import psycopg

    try:
        with psycopg.connect(**platform.postgres_connect_kwargs(), connect_timeout=5) as conn:  # type: ignore[arg-type]
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]).split()[0] if row else None
    except Exception:  # noqa: BLE001 - the binary is asked instead
        return None


def _server_redis(platform: Platform) -> str | None:
    try:
        from waqiti_drill.platform.local.redis_cluster import RedisCluster

        ctx = platform.context()  # type: ignore[attr-defined]
        return str(RedisCluster(ctx).client(platform.redis_nodes()[0].address).info("server")["redis_version"])
    except Exception:  # noqa: BLE001
        return None
