"""Conformance readings: the spec's Configuration Details read back from the LIVE system.

Each reader returns {setting: actual} for the deployment feature to compare with its table. SQL goes
through the endpoints every platform gives; everything else through the Platform's Conformance capability
(platform/base.py), so the same feature reads a Kubernetes platform's own sources. Secrets are never
returned: `masterauth` reads as "set", an ACL user's password as how it is held ("sha-256").
"""

from __future__ import annotations

import re

import psycopg

from waqiti_drill.platform.base import Platform

_UNIT = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
_SIZES = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4}
_TIMES = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def canonical(value: str) -> str:
    """A value in base units when it has one ("256MB" -> "268435456B", "1s" -> "1000ms"), else lower-case text.

    PostgreSQL shows sizes and times in whatever unit reads best (SHOW gives '1s' for 1000 ms); the spec
    says '1GB' for 1073741824 bytes. Comparing canonical forms compares the quantities.
    """
    match = _UNIT.match(value)
    if not match:
        return value.strip().lower()
    number, unit = float(match.group(1)), match.group(2).lower()
    if unit in _SIZES:
        return f"{number * _SIZES[unit]:.0f}B"
    if unit in _TIMES:
        return f"{number * _TIMES[unit] * 1000:g}ms"
    return f"{number:g}{unit}" if unit else f"{number:g}"


def same(expected: str, actual: str) -> bool:
    return canonical(expected) == canonical(actual)


def postgres_settings(platform: Platform, names: list[str]) -> dict[str, str]:
    """SHOW-form values from pg_settings on the primary, through the read-write endpoint (TLS)."""
    with psycopg.connect(**platform.postgres_connect_kwargs(), autocommit=True, connect_timeout=5) as conn:  # type: ignore[arg-type]
        rows = conn.execute("SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
                            [names]).fetchall()
    return {name: value for name, value in rows}


def postgres_session_tls(platform: Platform) -> dict[str, str]:
    """The harness's own session: does it run over TLS, and which version (pg_stat_ssl)."""
    with psycopg.connect(**platform.postgres_connect_kwargs(), autocommit=True, connect_timeout=5) as conn:  # type: ignore[arg-type]
        row = conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    return {"session ssl": "on" if row and row[0] else "off", "session tls version": str(row[1] if row else "")}


def plaintext_refusal(platform: Platform) -> str:
    """Try the read-write endpoint without TLS (same user and password); returns the server's refusal.
    A connection that succeeds raises AssertionError: SSL is not required."""
    kwargs = dict(platform.postgres_connect_kwargs())
    kwargs["conninfo"] = f"{kwargs['conninfo']} sslmode=disable"
    try:
        with psycopg.connect(**kwargs, connect_timeout=5):  # type: ignore[arg-type]
            pass
    except psycopg.OperationalError as exc:
        return str(exc).strip().splitlines()[-1]
    raise AssertionError("a connection without TLS was accepted: SSL is not required")


def patroni_config(platform: Platform) -> dict[str, str]:
    """The HA manager's cluster-wide settings that the spec fixes (synchronous commit), as text."""
    conf = platform.ha_config()
    return {key: str(conf.get(key)).lower() for key in ("synchronous_mode", "synchronous_mode_strict",
                                                         "synchronous_node_count") if key in conf}


def redis_node_config(platform: Platform, address: str, names: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in platform.redis_node_config(address, names).items():
        if name == "maxmemory" and value is not None:
            value = f"{value}B"  # CONFIG GET answers bytes; the spec's 1GB is Redis's 1gb (1024^3)
        found[name] = "" if value is None else value
    return found


def redis_cluster_info(platform: Platform) -> dict[str, str]:
    info = platform.redis_cluster_info()
    return {k: info.get(k, "") for k in ("cluster_state", "cluster_slots_assigned", "cluster_size",
                                          "cluster_known_nodes")}


def redis_acl(platform: Platform, address: str) -> dict[str, str]:
    """The node's ACL users as `<user> <aspect>` settings (enabled, password, keys, channels, commands),
    with `users` naming them all, so a user nobody asked for shows up too."""
    users = platform.redis_acl_users(address)
    found = {"users": " ".join(sorted(u.name for u in users))}
    for u in users:
        found.update({f"{u.name} enabled": "on" if u.enabled else "off", f"{u.name} password": u.password,
                      f"{u.name} keys": u.keys or "none", f"{u.name} channels": u.channels or "none",
                      f"{u.name} commands": u.commands})
    return found


def redis_app_user_may_run(platform: Platform, address: str, commands: list[str]) -> dict[str, str]:
    """For each command line, "allowed" or "refused" for the application's ACL user (ACL DRYRUN: asked of
    the node without running the command, so FLUSHALL is safe to ask about)."""
    user = platform.redis_client_settings().username or "default"
    found = {}
    for line in commands:
        refusal = platform.redis_acl_dryrun(address, user, line.split())
        found[line] = "allowed" if not refusal else "refused"
    return found


def redis_unauthenticated(platform: Platform, address: str) -> str:
    """PING in RESP on a fresh TLS connection (the server's certificate verified as clients do), without a
    password: returns the server's refusal (a raw socket, because redis-py 8 first sends HELLO and
    retries, which takes seconds); an answer raises."""
    import socket
    import ssl

    settings = platform.redis_client_settings()
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=3) as raw:
        sock: socket.socket = raw
        if settings.tls:
            ctx = ssl.create_default_context(cafile=settings.ca_file or None)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            sock = ctx.wrap_socket(raw, server_hostname=host)
        sock.sendall(b"PING\r\n")
        reply = sock.recv(512).decode(errors="replace").strip()
    if reply.startswith("-NOAUTH"):
        return reply[1:]
    raise AssertionError(f"{address} answered PING without authentication: {reply!r}")
