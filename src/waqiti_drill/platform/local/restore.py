"""A copy restored from the repository beside the cluster: the spec's restore job, PITR, test restores.

pgBackRest restores a backup set into <state>/restore/data and PostgreSQL replays WAL from the
repository up to the recovery target, then promotes. As root, <state>/restore is an encrypted volume of
its own (volumes.py), made for the copy and deleted with it, image and key. The copy runs on loopback on its own port,
TLS-only like the members, with archiving off (`--archive-mode=off`, and again on its command line):
a copy that pushed WAL into the cluster's stanza would fork the repository's timeline history.
Its database is renamed to the target name (the spec's TARGET_DATABASE, `waqiti_restored`), so it
can never be mistaken for the live one.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

import psycopg
from psycopg import sql

from waqiti_drill import timefmt
from waqiti_drill.errors import InvalidConfig
from waqiti_drill.platform.base import BackupInfo, RestoreInfo
from waqiti_drill.platform.local.context import LocalContext, require_ports_free
from waqiti_drill.platform.local.mounts import disks_enabled
from waqiti_drill.platform.local.patroni import PG_BIN
from waqiti_drill.platform.local.pgbackrest import BackupRepo
from waqiti_drill.platform.local.runas import make_dir, write_file
from waqiti_drill.platform.local.supervisor import ProcessSpec
from waqiti_drill.platform.local.volumes import RESTORE, destroy_volume, mount_volume, volume
from waqiti_drill.timefmt import now_utc_iso
from waqiti_drill.waiting import wait_until

PROCESS = "restore-copy"


def parse_utc(text: str) -> dt.datetime:
    """A point in time the user gave (`drill restore --to`), read by timefmt's one parser; naive means UTC.
    A bad value is the user's one-line InvalidConfig (exit 2) naming it, not a ValueError traceback."""
    try:
        return timefmt.parse_utc_datetime(text)
    except ValueError:
        raise InvalidConfig(f"point in time {text!r} is not an ISO 8601 instant (e.g. 2026-12-01T08:30:00Z)") from None


def choose_set(backups: list[BackupInfo], point_in_time: dt.datetime | None) -> BackupInfo:
    """The set to restore (pure): the newest one, or the newest that stopped at least a second before
    the target (pgBackRest's stop time is whole seconds, and recovery cannot end before consistency)."""
    done = [b for b in backups if b.stop]
    if point_in_time is not None:
        done = [b for b in done if timefmt.parse_utc_datetime(b.stop) + dt.timedelta(seconds=1) <= point_in_time]
    if not done:
        when = f" that finished before {point_in_time.isoformat()}" if point_in_time else ""
        raise InvalidConfig(f"no backup set{when} in the repository: take one first ('drill backup full')")
    return max(done, key=lambda b: b.stop)


class RestoreCopy:
    def __init__(self, ctx: LocalContext) -> None:
        self.ctx = ctx
        self.base = ctx.state_dir / "restore"
        self.data = self.base / "data"
        self.sock = self.base / "sock"
        self.port = ctx.settings.ports.restore

    def restore(self, point_in_time: str | None, database: str, timeout: float = 900.0) -> RestoreInfo:
        target = parse_utc(point_in_time) if point_in_time else None
        repo = BackupRepo(self.ctx)
        chosen = choose_set(repo.list_backups(), target)
        started, t0 = now_utc_iso(), time.monotonic()
        self.drop()
        require_ports_free(self.ctx.host, {"restore": self.port}, "the restored copy")
        if disks_enabled():  # the copy is production data too: on an encrypted volume of its own (volumes.py)
            mount_volume(volume(self.ctx.settings, RESTORE), self.ctx.settings.disk_mib, self.ctx.user)
        for path in (self.base, self.data, self.sock):
            make_dir(self.ctx.user, path, 0o700)
        args = [f"--set={chosen.label}", "--archive-mode=off", "--target-action=promote"]
        if target is None:
            args.append("--type=immediate")
        else:
            args += ["--type=time", f"--target={target.strftime('%Y-%m-%d %H:%M:%S.%f+00')}"]
        repo.restore_into(self.data, args, timeout)
        self._start()
        self._wait_promoted(database, timeout - (time.monotonic() - t0))
        return RestoreInfo(target=database, backup=chosen,
                           recovery_target="immediate" if target is None else target.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                           started=started, finished=now_utc_iso(), seconds=round(time.monotonic() - t0, 3),
                           host=self.ctx.host, port=self.port)

    def _start(self) -> None:
        hba = write_file(self.ctx.user, self.base / "pg_hba.conf",
                         "local all all scram-sha-256\n"
                         f"hostssl all all {self.ctx.host}/32 scram-sha-256\n", 0o600)
        overrides = {
            "port": self.port, "listen_addresses": self.ctx.host, "unix_socket_directories": self.sock,
            "hba_file": hba, "archive_mode": "off", "archive_command": "", "synchronous_standby_names": "",
            "cluster_name": "waqiti-restore-copy", "logging_collector": "off",  # errors in the supervisor's log
        }
        argv = [str(PG_BIN / "postgres"), "-D", str(self.data)]
        for key, value in overrides.items():
            argv += ["-c", f"{key}={value}"]
        self.ctx.supervisor.start(ProcessSpec(name=PROCESS, argv=argv, cwd=self.base))

    def _superuser(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(host=str(self.sock), port=self.port, user="postgres", dbname=dbname,
                               password=self.ctx.secrets.superuser_password, autocommit=True, connect_timeout=5)

    def _wait_promoted(self, database: str, timeout: float) -> None:
        def promoted() -> tuple[bool, str]:
            if self.ctx.supervisor.pid_of(PROCESS) is None:
                return True, "exited"  # reported below with its log, rather than waited on to the deadline
            with self._superuser() as conn:
                in_recovery = conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
            return not in_recovery, f"pg_is_in_recovery={in_recovery}"

        wait_until(promoted, max(timeout, 30.0), "the restored copy to finish recovery and promote")
        self.ctx.supervisor.check_alive(PROCESS, "the restored copy's postgres")
        live = self.ctx.settings.database
        with self._superuser() as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(live),
                                                                         sql.Identifier(database)))

    def connect_kwargs(self, database: str) -> dict[str, object]:
        s = self.ctx.settings
        dsn = (f"host={s.host} port={self.port} dbname={database} user={s.app_user} "
               f"sslmode=verify-full sslrootcert={self.ctx.tls.ca_cert}")
        return {"conninfo": dsn, "password": self.ctx.secrets.postgres_password}

    def drop(self) -> None:
        """Stop the copy and remove its files (as root: its volume, image and key); idempotent."""
        self.ctx.supervisor.stop([PROCESS], 10.0)
        self.ctx.supervisor.kill_everything_under(self.base)
        if disks_enabled():
            destroy_volume(volume(self.ctx.settings, RESTORE))
        if self.base.exists():
            shutil.rmtree(self.base)

    def exists(self) -> bool:
        return Path(self.data).exists()
