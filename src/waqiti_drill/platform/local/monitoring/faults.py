"""The conditions the critical alerts watch for, induced for real on the local stack, and their undo.

Mixed into LocalPlatform. Each primitive returns once the condition is in force, so the caller's
clock marks the fault instant; each undo is idempotent, and `resume_all` (part of every heal) undoes
what a killed drill left: paused replay resumed, held connections released. A filled disk uses the
same filler file as the disk-full fault, so the heal's disk sweep frees it too.
"""

from __future__ import annotations

import os
import secrets as _random
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from waqiti_drill.errors import CommandFailed, InvalidConfig
from waqiti_drill.platform.local.disks import MemberDisks
from waqiti_drill.platform.local.layout import MemberLocation, member, members
from waqiti_drill.platform.local.monitoring.connhold import APPLICATION_NAME
from waqiti_drill.platform.local.pgroles import superuser_connect
from waqiti_drill.platform.local.runas import make_dir, write_file
from waqiti_drill.platform.local.supervisor import ProcessSpec, Supervisor, process_state
from waqiti_drill.waiting import wait_until

if TYPE_CHECKING:
    from waqiti_drill.config import Settings
    from waqiti_drill.platform.local.context import LocalContext

HOLDER = "connhold"


class LocalMonitoringFaults:
    settings: Settings
    supervisor: Supervisor
    context: Callable[..., LocalContext]

    # ----- replication lag: WAL replay stopped on a replica while WAL keeps arriving -------------------
    # pg_wal_replay_pause() does not hold under Patroni: every loop (loop_wait 1 s) Patroni resumes a paused
    # replay on PostgreSQL 14+ (Postgresql.handle_parameter_change). So replay is stopped the way a stuck
    # replay looks: the replica's startup process (the one that replays) is stopped with SIGSTOP, while its
    # WAL receiver keeps receiving and flushing. Patroni does not resume that, and any heal's resume_all
    # (SIGCONT to every stopped process of the stack) ends it even after the drill was killed.
    def _startup_pid(self, location: MemberLocation) -> int | None:
        with superuser_connect(self.context(), location) as conn:
            if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                return None
            row = conn.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'startup'").fetchone()
        return int(row[0]) if row else None

    def pause_replay(self, name: str) -> None:
        location = member(self.settings, name)
        pid = self._startup_pid(location)
        if pid is None:
            raise InvalidConfig(f"member {name} is not replaying WAL (it is the primary): only a replica's replay "
                                "can be stopped")
        os.kill(pid, signal.SIGSTOP)
        wait_until(lambda: (process_state(pid) in ("T", "t"), process_state(pid) or "gone"), 10.0,
                   f"the startup process {pid} of {name} to stop", interval=0.02)

    def resume_replay(self, name: str) -> None:
        pid = self._startup_pid(member(self.settings, name))
        if pid is not None:
            os.kill(pid, signal.SIGCONT)

    def replay_paused(self) -> list[str]:
        out = []
        for location in members(self.settings):
            try:
                pid = self._startup_pid(location)
            except psycopg.Error:
                continue  # a member that does not answer has no replay to resume
            if pid is not None and process_state(pid) in ("T", "t"):
                out.append(location.name)
        return out

    # ----- disk usage past the alert's threshold ---------------------------------------------------
    def fill_disk_to(self, name: str, percent: float) -> int:
        if not 0 < percent < 100:
            raise InvalidConfig(f"a disk can be filled to a percentage between 0 and 100, not {percent}")
        member(self.settings, name)
        return MemberDisks(self.settings, self.context().user).fill_to(name, percent)

    # ----- connections held near max_connections ---------------------------------------------------
    def hold_connections(self, name: str, fraction: float) -> int:
        """Open client connections to `name` until `fraction` of those open to non-superusers are in use."""
        if not 0 < fraction < 1:
            raise InvalidConfig(f"connections can be held up to a fraction between 0 and 1, not {fraction}")
        if self.supervisor.pid_of(HOLDER):
            raise InvalidConfig("connections are already held; release them first")
        ctx, location = self.context(), member(self.settings, name)
        with superuser_connect(ctx, location) as conn:
            used, available = conn.execute(
                "SELECT count(*) FILTER (WHERE backend_type = 'client backend'), "
                "current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int "
                "FROM pg_stat_activity").fetchone()
        count = int(available * fraction) + 1 - int(used)
        if count <= 0:
            raise InvalidConfig(f"{name} already has {used} of {available} client connections in use")
        self._start_holder(ctx, location, count)
        return count

    def _start_holder(self, ctx: LocalContext, location: MemberLocation, count: int) -> None:
        base = make_dir(ctx.user, ctx.state_dir / "monitoring" / HOLDER, 0o700)
        from waqiti_drill.platform.local.monitoring import connhold

        script = write_file(ctx.user, base / "connhold.py", Path(str(connhold.__file__)).read_text(), 0o644)
        password = ctx.secrets.postgres_password.replace("\\", "\\\\").replace(":", "\\:")
        pgpass = write_file(ctx.user, base / "pgpass", f"*:*:*:{self.settings.app_user}:{password}\n", 0o600)
        ready = base / "held"
        ready.unlink(missing_ok=True)
        (base / "member").write_text(location.name)
        argv = [sys.executable, "-I", str(script), location.host, str(location.port), self.settings.database,
                self.settings.app_user, str(count), str(ctx.tls.ca_cert), str(ready)]
        self.supervisor.start(ProcessSpec(name=HOLDER, argv=argv, cwd=base, env={"PGPASSFILE": str(pgpass)}))

        def holding() -> tuple[bool, str]:
            if self.supervisor.pid_of(HOLDER) is None:
                raise CommandFailed(f"the connection holder exited: {self.supervisor.last_log_line(HOLDER)}")
            return ready.exists(), f"{HOLDER} opening {count} connections"

        wait_until(holding, 60.0, f"{count} connections to {location.name} to be open", interval=0.1)

    def release_connections(self) -> int:
        """Stop the holder and end any backend it left (application_name); how many were ended."""
        self.supervisor.stop([HOLDER], 5.0)
        ended = 0
        for location in members(self.settings):
            try:
                with superuser_connect(self.context(), location) as conn:
                    ended += conn.execute("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM "
                                          "pg_stat_activity WHERE application_name = %s) t",
                                          (APPLICATION_NAME,)).fetchone()[0]
            except psycopg.Error:
                continue
        return ended

    def connections_held(self) -> list[str]:
        if self.supervisor.pid_of(HOLDER) is None:
            return []
        marker = self.settings.state_dir / "monitoring" / HOLDER / "member"
        return [marker.read_text().strip()] if marker.exists() else ["unknown member"]

    # ----- failed logins -----------------------------------------------------------------------------
    def attempt_failed_logins(self, name: str, count: int) -> int:
        """`count` logins as the application role with a wrong password, each refused by the server."""
        ctx, location = self.context(), member(self.settings, name)
        refused = 0
        for _ in range(count):
            wrong = "wrong-" + _random.token_urlsafe(12)  # never the real password, never a stored secret
            try:
                psycopg.connect(host=location.host, port=location.port, dbname=self.settings.database,
                                user=self.settings.app_user, password=wrong, sslmode="verify-full",
                                sslrootcert=str(ctx.tls.ca_cert), connect_timeout=5).close()
            except psycopg.OperationalError as exc:
                if "password authentication failed" not in str(exc):
                    raise CommandFailed(f"a login to {name} failed for another reason: {str(exc).strip()}") from None
                refused += 1
                continue
            raise CommandFailed(f"a login to {name} with a wrong password was accepted")
        return refused

    def switch_wal(self) -> str:
        """Close the primary's current WAL segment (after a write, so there is one to close): it is ready to be
        archived now, and waits while the archive is unreachable. Returns the segment's name."""
        for location in members(self.settings):
            with superuser_connect(self.context(), location) as conn:
                if conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                    continue
                conn.execute("CREATE TEMP TABLE IF NOT EXISTS wal_switch (at timestamptz)")
                conn.execute("INSERT INTO wal_switch VALUES (now())")
                return str(conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()[0])
        raise CommandFailed("no member is primary: there is no WAL segment to switch")

    def monitoring_fault_lines(self) -> list[str]:
        """What of these conditions is in force now, for `drill status`."""
        lines = [f"WAL replay paused on {n}" for n in self.replay_paused()]
        lines += [f"connections held on {n}" for n in self.connections_held()]
        return lines

    def undo_monitoring_faults(self) -> list[str]:
        """Part of every heal's sweep (after every stopped process got SIGCONT): what a killed drill left
        paused or held, one line each, read after the heal's "resumed"."""
        done = []
        for name in self.replay_paused():
            self.resume_replay(name)
            done.append(f"WAL replay on {name}")
        held = self.connections_held()
        ended = self.release_connections()  # always: it also ends backends a dead holder left
        if held or ended:
            done.append(f"the connections held on {', '.join(held) or f'a member ({ended} left over)'} (released)")
        return done
