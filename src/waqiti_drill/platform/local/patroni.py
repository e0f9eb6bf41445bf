"""PostgreSQL 15 HA: three members managed by Patroni with etcd, as the spec's CloudNativePG cluster.

Synchronous replication (synchronous_mode with strict), automatic failover, pg_rewind rejoin,
TLS on every TCP connection (hostssl only, TLS 1.2 minimum) and SCRAM passwords. The configuration is
rendered by patroniconf.py; the harness talks to the REST API over mutual TLS (tlsclient.py).
"""

from __future__ import annotations

import base64
import sys
import urllib.error
from collections.abc import Callable
from pathlib import Path

from waqiti_drill.errors import CommandFailed, InvalidConfig, MissingBinary
from waqiti_drill.platform.base import PgMember, PgRole
from waqiti_drill.platform.local.context import LocalContext, require_ports_free
from waqiti_drill.platform.local.layout import MemberLocation, members
from waqiti_drill.platform.local.patroniconf import PG_BIN, PGAUDIT_LIBRARY, REST_USER, render_patroni_config
from waqiti_drill.platform.local.runas import can_execute, make_dir, write_file
from waqiti_drill.platform.local.supervisor import ProcessSpec
from waqiti_drill.platform.local.tlsclient import get_json, request
from waqiti_drill.waiting import wait_until

ROLE_NAMES: dict[str, PgRole] = {
    "leader": "primary",
    "master": "primary",
    "primary": "primary",
    "sync_standby": "sync_standby",
    "replica": "replica",
    "quorum_standby": "replica",
}


def process_name(member: MemberLocation) -> str:
    return f"patroni-{member.name}"


def patroni_executable() -> Path:
    """Patroni from the harness's own environment (installed with it from PyPI)."""
    candidate = Path(sys.executable).parent / "patroni"
    if not candidate.exists():
        raise MissingBinary("'patroni' not found next to the harness: install the PyPI package patroni[etcd3,psycopg3]")
    return candidate


class PatroniCluster:
    def __init__(self, ctx: LocalContext) -> None:
        self.ctx = ctx
        self.members = members(ctx.settings)

    def ports(self, member: MemberLocation) -> dict[str, int]:
        return {f"postgres[{member.name}]": member.port, f"patroni[{member.name}]": member.rest_port}

    def process_names(self) -> list[str]:
        return [process_name(m) for m in self.members]

    def check_prerequisites(self) -> None:
        if not (PG_BIN / "postgres").exists():
            raise MissingBinary(f"PostgreSQL 15 not found in {PG_BIN}: install the Debian package postgresql-15")
        if not PGAUDIT_LIBRARY.exists():
            raise MissingBinary(f"pgaudit not found ({PGAUDIT_LIBRARY}): install the Debian package "
                                "postgresql-15-pgaudit")
        exe = patroni_executable()
        python = Path(sys.executable)
        if not can_execute(self.ctx.user, python):
            raise InvalidConfig(
                f"user '{self.ctx.user.name}' cannot execute {python}, which runs Patroni: create the "
                "harness's virtualenv from /usr/bin/python3 in a world-readable path (scripts/setup.sh does)"
            )
        for m in self.members:
            sock = m.socket_dir / f".s.PGSQL.{m.port}"
            if len(str(sock)) > 100:
                raise InvalidConfig(f"state directory path too long for a Unix socket ({sock}); choose a shorter one")
        del exe

    def render(self, archive_command: Callable[[MemberLocation], str],
               bootstrap_restore: Callable[[MemberLocation], str] | None = None) -> None:
        user, log_root = self.ctx.user, self.ctx.state_dir / "logs"
        make_dir(user, log_root)
        for m in self.members:
            make_dir(user, m.base)
            make_dir(user, m.socket_dir)
            log_dir = make_dir(user, log_root / m.name)
            text = render_patroni_config(self.ctx.settings, m, self.ctx.secrets, self.ctx.tls,
                                         archive_command(m), log_dir,
                                         bootstrap_restore(m) if bootstrap_restore else None)
            write_file(user, m.base / "patroni.yml", text)

    def start_member(self, member: MemberLocation) -> None:
        sup = self.ctx.supervisor
        if sup.pid_of(process_name(member)):
            # Never signalled here: a SIGHUP reaching a Patroni still starting (a heal right after a restart)
            # kills it before its handler is installed (seen in CI: "exited during start-up")
            return
        # An orphaned postmaster of ours may still hold the port. A member's own namespace holds only ours.
        if member.netns is None and not sup.pids_under(member.base):
            require_ports_free(member.host, self.ports(member), f"member {member.name}")
        argv = [str(patroni_executable()), str(member.base / "patroni.yml")]
        sup.start(ProcessSpec(name=process_name(member), argv=argv, cwd=member.base, netns=member.netns))

    def start(self) -> None:
        for m in self.members:
            self.start_member(m)

    def rest_url(self, member: MemberLocation, path: str) -> str:
        return f"https://{member.host}:{member.rest_port}{path}"

    def rest(self, member: MemberLocation, path: str) -> dict:
        """GET `path` of `member`'s REST API over mutual TLS; OSError when it does not answer."""
        return get_json(self.ctx.tls, self.rest_url(member, path), timeout=2)

    def switchover(self, candidate: str | None) -> None:
        """A planned switchover through Patroni (the analogue of `kubectl cnpg promote`)."""
        primary = self.primary()
        body: dict[str, str] = {"leader": primary.name}
        if candidate:
            body["candidate"] = candidate
        token = base64.b64encode(f"{REST_USER}:{self.ctx.secrets.patroni_rest_password}".encode()).decode()
        try:
            request(self.ctx.tls, self.rest_url(primary, "/switchover"), timeout=60, body=body,
                    headers={"Authorization": f"Basic {token}"})
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace").strip()
            raise CommandFailed(f"switchover from {primary.name} to {candidate or 'any'} refused: {detail}") from None

    def cluster_view(self) -> list[PgMember]:
        """The members as Patroni's /cluster endpoint of the first answering member reports them.

        /cluster reads the DCS. When no member can serve it (the DCS is down or cut off), each member's
        own /patroni answer is used instead: its role and state as it sees them, without the DCS (a
        synchronous standby then shows as a replica; a member that does not answer is left out).
        """
        try:
            data = self.rest_first("/cluster")
        except OSError:
            reported = self._self_reported()
            if not reported:
                raise
            return reported
        return [_member_from_rest(item) for item in data.get("members", [])]

    def rest_first(self, path: str) -> dict:
        """`path` of the REST API of the first member that answers; OSError naming the last error."""
        last: Exception | None = None
        for m in self.members:
            try:
                return self.rest(m, path)
            except OSError as exc:
                last = exc
        raise OSError(f"no Patroni REST API answered {path} (last error: {last})")

    def _self_reported(self) -> list[PgMember]:
        out = []
        for m in self.members:
            try:
                data = self.rest(m, "/patroni")
            except (OSError, ValueError):
                continue
            role = ROLE_NAMES.get(str(data.get("role")), "replica" if data.get("role") else "unknown")
            out.append(PgMember(name=m.name, role=role, state=str(data.get("state", "unknown")),
                                timeline=data.get("timeline"), lag_bytes=0 if role == "primary" else None,
                                host=m.host, port=m.port))
        return out

    def healthy(self) -> tuple[bool, str]:
        for m in self.members:
            self.ctx.supervisor.check_alive(process_name(m), f"Patroni member {m.name}")
        view = self.cluster_view()
        roles = sorted(f"{m.name}:{m.role}/{m.state}" for m in view)
        primaries = [m for m in view if m.role == "primary" and m.state == "running"]
        syncs = [m for m in view if m.role == "sync_standby" and m.state == "streaming"]
        streaming = [m for m in view if m.role != "primary" and m.state == "streaming"]
        ok = len(view) == 3 and len(primaries) == 1 and len(syncs) == 1 and len(streaming) == 2
        return ok, ", ".join(roles) or "no members registered"

    def wait_healthy(self, timeout: float) -> list[PgMember]:
        """Until healthy; a Patroni that exits (e.g. a failed bootstrap) ends the wait at once with its log."""
        sup = self.ctx.supervisor

        def probe() -> tuple[bool, str]:
            dead = [m.name for m in self.members if sup.pid_of(process_name(m)) is None]
            return (True, f"Patroni exited on {', '.join(dead)}") if dead else self.healthy()

        wait_until(probe, timeout, "one primary, a synchronous standby and two streaming replicas")
        for m in self.members:
            sup.check_alive(process_name(m), f"Patroni member {m.name}")
        return self.cluster_view()

    def primary(self) -> MemberLocation:
        for pg in self.cluster_view():
            if pg.role == "primary":
                return next(m for m in self.members if m.name == pg.name)
        raise OSError("no primary in the Patroni cluster")


def _member_from_rest(item: dict) -> PgMember:
    lag = item.get("lag")
    role = ROLE_NAMES.get(str(item.get("role")), "unknown")
    return PgMember(
        name=str(item["name"]),
        role=role,
        state=str(item.get("state", "unknown")),
        timeline=item.get("timeline"),
        lag_bytes=0 if role == "primary" else (lag if isinstance(lag, int) else None),
        host=str(item.get("host", "")),
        port=int(item.get("port", 0)),
    )
