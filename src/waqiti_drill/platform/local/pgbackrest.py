"""pgBackRest against the embedded object store: per-member configs, backups, retention, listing.

Each PostgreSQL member gets its own config whose `pg1` is that member, so the archive_command and
restore_command of whichever member is primary point at itself; all share one S3 repository. The
repository is encrypted by pgBackRest (aes-256-cbc) and, underneath, by the bucket's SSE-S3 default.
Secrets live only in the mode-600 config files and the libpq password file, never in argv.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import cast

from waqiti_drill.config import Settings
from waqiti_drill.errors import CommandFailed, InvalidConfig, StateDirError
from waqiti_drill.platform.base import BackupInfo, BackupType
from waqiti_drill.platform.local.auditlog import newest_starting
from waqiti_drill.platform.local.commands import run_tool
from waqiti_drill.platform.local.context import LocalContext, find_binary
from waqiti_drill.platform.local.layout import MemberLocation, pgpass_path
from waqiti_drill.platform.local.netplan import S3_HOST_NAME, plan_network
from waqiti_drill.platform.local.pgroles import superuser_connect
from waqiti_drill.platform.local.runas import make_dir, write_file
from waqiti_drill.platform.local.tls import tls_files
from waqiti_drill.secrets import Secrets

PACKAGE = "the Debian package pgbackrest (apt-get install pgbackrest)"
REPO_PATH = "/pgbackrest"
VERIFY_SCHEDULE = "0 4 * * *"  # daily repository validation, after the Sunday full has finished


def repo_dir(settings: Settings) -> Path:
    return settings.state_dir / "pgbackrest"


def s3_endpoint_host(settings: Settings) -> str:
    """The S3 host name as archive-push sees it from where PostgreSQL runs."""
    return S3_HOST_NAME if plan_network(settings).isolated else "localhost"


def config_path(settings: Settings, member_name: str) -> Path:
    return repo_dir(settings) / f"{member_name}.conf"


def _value(name: str, value: object) -> str:
    """One config value; a line break would let a value inject further options, so refuse it."""
    text = str(value)
    if "\n" in text or "\r" in text or text != text.strip():
        raise InvalidConfig(f"pgBackRest option {name}: value must be one line without surrounding spaces")
    return text


def render_config(settings: Settings, secrets: Secrets, member: MemberLocation, process_max: int = 2) -> str:
    """The pgbackrest.conf for `member` (pure). Retention: fulls by time, 90 days; WAL follows the fulls."""
    base, b = repo_dir(settings), settings.backup
    options = {
        "repo1-type": "s3",
        "repo1-path": REPO_PATH,
        "repo1-s3-bucket": b.bucket,
        # a DNS name of the certificate (pgBackRest rejects an address): `localhost` on loopback; inside
        # the member namespaces a name their /etc/hosts maps to the bridge (see netplan.py)
        "repo1-s3-endpoint": s3_endpoint_host(settings),
        "repo1-storage-port": settings.ports.s3,
        "repo1-s3-region": "us-east-1",
        "repo1-s3-key": secrets.s3_access_key,
        "repo1-s3-key-secret": secrets.s3_secret_key,
        "repo1-s3-uri-style": "path",
        "repo1-storage-ca-file": tls_files(settings.state_dir).ca_cert,
        "repo1-cipher-type": b.cipher_type,
        "repo1-cipher-pass": secrets.backup_cipher_pass,
        "repo1-retention-full-type": "time",
        "repo1-retention-full": b.full_retention_days,
        "compress-type": "zst",
        "process-max": process_max,
        "log-path": base / "log" / member.name,
        "lock-path": base / "lock",  # shared: one backup at a time across members
        "spool-path": base / "spool" / member.name,
        "log-level-console": "warn",
        "log-level-file": "info",
        "start-fast": "y",
    }
    options.update(repo2_options(settings, secrets))
    stanza = {
        "pg1-path": member.data_dir,
        "pg1-port": member.port,
        "pg1-socket-path": member.socket_dir,
        "pg1-user": "postgres",
    }
    lines = [f"# pgBackRest for member {member.name}; written by waqiti-drill, do not edit", "[global]"]
    lines += [f"{k}={_value(k, v)}" for k, v in options.items()]
    lines += ["", f"[{b.stanza}]"]
    lines += [f"{k}={_value(k, v)}" for k, v in stanza.items()]
    return "\n".join(lines) + "\n"


# pgBackRest's "WAL file already exists in the repository with a different checksum"
ARCHIVE_DUPLICATE_EXIT = 45

ARCHIVE_SCRIPT = """#!/bin/sh
# archive_command of every member: {binary} archive-push, written by waqiti-drill, do not edit.
#
# One refusal of pgBackRest's is passed, because it loses nothing and would otherwise stop archiving for
# good. A replica streaming the last segment of a timeline when that timeline ends (a failover) keeps its
# partial copy under the segment's full name, without archive status. When that member is primary later,
# a checkpoint finds the file, marks it ready, and PostgreSQL archives it; pgBackRest refuses it (045)
# because the primary of that timeline archived the whole segment already. Every later segment then waits
# behind it, so backups and PITR stop. The rule: a segment of a timeline older than this server's newest
# timeline history, whose name is already in the repository, counts as archived (the repository keeps the
# copy of the primary that wrote it; recovery along the newer timeline reads it only up to the switch,
# where both copies agree). The server's own timeline is never passed: a clash there stays an error.
# Usage: archive-push.sh WAL_PATH PGBACKREST_OPTION...
wal=$1
shift
{binary} "$@" archive-push "$wal"
rc=$?
[ "$rc" -eq {duplicate} ] || exit "$rc"
name=$(basename "$wal")
printf '%s' "$name" | grep -Eq '^[0-9A-F]{{24}}$' || exit "$rc"
newest=$(ls "$(dirname "$wal")" | grep -E '^[0-9A-F]{{8}}[.]history$' | sort | tail -n 1 | cut -c1-8)
[ -n "$newest" ] || exit "$rc"
timeline=$(printf '%s' "$name" | cut -c1-8)
if [ $((0x$timeline)) -lt $((0x$newest)) ]; then
    echo "WARN: WAL file '$name' of superseded timeline $timeline (this server has $newest) is already in" \\
        "the repository with other content, as the primary of that timeline archived it: counted as archived" >&2
    exit 0
fi
exit "$rc"
"""


def _server_arg(path: Path) -> str:
    """A path in a command PostgreSQL runs through the shell after expanding %-escapes: quoted, '%' doubled."""
    return shlex.quote(str(path)).replace("%", "%%")


def archive_script_path(settings: Settings) -> Path:
    return repo_dir(settings) / "archive-push.sh"


def render_archive_script(binary: str) -> str:
    """The archive_command wrapper (pure)."""
    return ARCHIVE_SCRIPT.format(binary=shlex.quote(binary), duplicate=ARCHIVE_DUPLICATE_EXIT)


def uses_repo2(settings: Settings) -> bool:
    """pgBackRest writes to the backup region's store itself ([backup_region] replication = "repo2")."""
    return settings.region.enabled and settings.region.replication == "repo2"


def repo2_options(settings: Settings, secrets: Secrets) -> dict[str, object]:
    """The backup region's store as pgBackRest's second repository (pure): WAL is pushed to both, backups
    are taken to both. Same path, cipher and retention as repo1, so the backup region restores from it
    with its own repo1 configuration; its own keys."""
    if not uses_repo2(settings):
        return {}
    b = settings.backup
    return {
        "repo2-type": "s3", "repo2-path": REPO_PATH, "repo2-s3-bucket": b.bucket,
        "repo2-s3-endpoint": s3_endpoint_host(settings), "repo2-storage-port": settings.ports.dr_s3,
        "repo2-s3-region": settings.region.backup, "repo2-s3-key": secrets.dr_s3_access_key,
        "repo2-s3-key-secret": secrets.dr_s3_secret_key, "repo2-s3-uri-style": "path",
        "repo2-storage-ca-file": tls_files(settings.state_dir).ca_cert, "repo2-cipher-type": b.cipher_type,
        "repo2-cipher-pass": secrets.backup_cipher_pass, "repo2-retention-full-type": "time",
        "repo2-retention-full": b.full_retention_days,
    }


def _cron_fields(expr: str) -> str:
    if len(expr.split()) != 5:
        raise InvalidConfig(f"backup schedule '{expr}' is not a 5-field cron expression")
    return expr


def render_crontab(settings: Settings, members: list[MemberLocation], pgbackrest: str, user: str) -> str:
    """The spec's schedule in /etc/cron.d terms (pure). Documentation only: nothing runs cron here."""
    b = settings.backup
    full, incr, verify = (_cron_fields(e) for e in (b.full_schedule, b.incr_schedule, VERIFY_SCHEDULE))
    cmd = f"{pgbackrest} --stanza={b.stanza}"
    lines = [
        f"# pgBackRest schedule for stanza '{b.stanza}' (/etc/cron.d format, times in UTC).",
        "# Documentation only: nothing installs or runs this file; the harness runs backups on demand.",
        "# Every member carries the backup lines; pgBackRest refuses to back up from a standby",
        "# ('unable to find primary cluster'), so only the current primary's job does the work.",
        "SHELL=/bin/sh",
        "CRON_TZ=UTC",
        f"PGPASSFILE={pgpass_path(settings)}",
        f"# weekly full, kept {b.full_retention_days} days (repo1-retention-full-type=time); "
        "WAL is kept back to the oldest full",
    ]
    lines += [f"{full} {user} {cmd} --config={config_path(settings, m.name)} --type=full backup" for m in members]
    lines.append(
        f"# incremental every 6 hours, kept {b.incr_retention_days} days: pgBackRest cannot express that, so "
        "the harness expires old incremental chains (BackupRepo.expire_incrementals)"
    )
    lines += [f"{incr} {user} {cmd} --config={config_path(settings, m.name)} --type=incr backup" for m in members]
    if members:
        lines.append("# daily validation: every file in the repository is read back and checked")
        lines.append(f"{verify} {user} {cmd} --config={config_path(settings, members[0].name)} verify")
    return "\n".join(lines) + "\n"


def _iso(epoch: int | None) -> str:
    if epoch is None:
        return ""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _backup_info(raw: dict) -> BackupInfo:
    info, archive, ts = raw.get("info", {}), raw.get("archive") or {}, raw.get("timestamp", {})
    repo = info.get("repository", {})
    return BackupInfo(
        type=cast(BackupType, raw["type"]),
        label=raw["label"],
        start=_iso(ts.get("start")),
        stop=_iso(ts.get("stop")),
        wal_start=archive.get("start") or "",
        wal_stop=archive.get("stop") or "",
        size_bytes=int(info.get("size") or 0),
        repo_size_bytes=int(repo.get("delta") or repo.get("size") or 0),
        prior=raw.get("prior"),
    )


def parse_info(json_text: str, stanza: str = "waqiti") -> list[BackupInfo]:
    """Backup sets of `stanza`, oldest first, from `pgbackrest info --output=json` (pure)."""
    try:
        data = json.loads(json_text)
    except json.JSONDecodeError as exc:
        raise CommandFailed(f"pgbackrest info: output is not JSON ({exc})") from None
    for entry in data:
        if entry.get("name") == stanza:
            return [_backup_info(b) for b in entry.get("backup", [])]
    return []


def repo_status(json_text: str, stanza: str = "waqiti") -> tuple[bool, str]:
    """(readable, what pgBackRest said) from `info --output=json` (pure). A repository it cannot open,
    e.g. with a wrong cipher passphrase, still exits 0 but reports a non-zero status code, with the
    undecryptable bytes quoted in the message: those are cut off (strict=False lets the JSON load)."""
    try:
        data = json.loads(json_text, strict=False)
    except json.JSONDecodeError as exc:
        return False, f"pgbackrest info: output is not JSON ({exc})"
    for entry in data:
        if entry.get("name") != stanza:
            continue
        for repo in entry.get("repo", []):
            status = repo.get("status", {})
            if status.get("code", 0) != 0:
                message = str(status.get("message", "")).split(":\n")[0]
                return False, f"status {status.get('code')}: {message[:300]}"
        sets = entry.get("backup", [])
        return bool(sets), f"{len(sets)} backup set(s) listed"
    return False, f"no stanza {stanza!r} in the repository"


def _parse_iso(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def incrementals_to_expire(backups: list[BackupInfo], now: dt.datetime, keep_days: int) -> list[str]:
    """Labels to pass to `pgbackrest expire --set` so incrementals older than `keep_days` go (pure).

    Expiring a set also expires every set that depends on it, so an incremental qualifies only when
    it and all its dependents stopped before the cutoff; of a qualifying chain only the oldest
    qualifying link is returned (expiring it takes the rest). Fulls and diffs are never chosen.
    """
    cutoff = (now if now.tzinfo else now.replace(tzinfo=dt.UTC)) - dt.timedelta(days=keep_days)
    by_label = {b.label: b for b in backups}
    children: dict[str, list[str]] = {}
    for b in backups:
        if b.prior:
            children.setdefault(b.prior, []).append(b.label)

    def chain_is_old(label: str) -> bool:
        pending = [label]
        while pending:
            current = by_label.get(pending.pop())
            if current is None or not current.stop or _parse_iso(current.stop) >= cutoff:
                return False
            pending.extend(children.get(current.label, []))
        return True

    eligible = {b.label for b in backups if b.type == "incr" and chain_is_old(b.label)}
    return [b.label for b in backups if b.label in eligible and b.prior not in eligible]


def write_pgpass(ctx: LocalContext) -> Path:
    """The libpq password file pgBackRest uses to reach PostgreSQL as `postgres` (mode 600)."""
    path = pgpass_path(ctx.settings)
    if not path.parent.exists():
        make_dir(ctx.user, path.parent, 0o700)
    password = ctx.secrets.superuser_password.replace("\\", "\\\\").replace(":", "\\:")
    return write_file(ctx.user, path, f"*:*:*:postgres:{password}\n", 0o600)


class BackupRepo:
    """The shared pgBackRest repository, driven through the config of a chosen member."""

    def __init__(self, ctx: LocalContext) -> None:
        self.ctx = ctx
        self.dir = repo_dir(ctx.settings)
        self.stanza = ctx.settings.backup.stanza

    @property
    def binary(self) -> str:
        return find_binary("pgbackrest", PACKAGE)

    def config_path(self, member: MemberLocation) -> Path:
        return config_path(self.ctx.settings, member.name)

    def _command(self, member: MemberLocation, verb: str) -> str:
        conf = _server_arg(self.config_path(member))
        return f"{shlex.quote(self.binary)} --config={conf} --stanza={self.stanza} {verb}"

    def archive_command(self, member: MemberLocation) -> str:
        """pgBackRest's archive-push, through the wrapper that passes one refusal that loses nothing
        (see ARCHIVE_SCRIPT)."""
        script, conf = _server_arg(archive_script_path(self.ctx.settings)), _server_arg(self.config_path(member))
        return f"{script} %p --config={conf} --stanza={self.stanza}"

    def render(self, members: list[MemberLocation]) -> None:
        """Write every member's config, the directories pgBackRest needs, and the schedule crontab."""
        user, process_max = self.ctx.user, max(1, min(4, os.cpu_count() or 1))
        for sub in ("", "log", "lock", "spool"):
            make_dir(user, self.dir / sub, 0o700)
        for m in members:
            make_dir(user, self.dir / "log" / m.name, 0o700)
            make_dir(user, self.dir / "spool" / m.name, 0o700)
            text = render_config(self.ctx.settings, self.ctx.secrets, m, process_max)
            write_file(user, self.config_path(m), text, 0o600)
        write_file(user, archive_script_path(self.ctx.settings), render_archive_script(self.binary), 0o755)
        crontab = render_crontab(self.ctx.settings, members, self.binary, self.ctx.user.name)
        write_file(user, self.dir / "schedule.crontab", crontab, 0o644)

    def _run(self, conf: Path, args: list[str], what: str, timeout: float = 300.0, env: dict[str, str] | None = None,
             check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [self.binary, f"--config={conf}", f"--stanza={self.stanza}", *args]
        if s3_endpoint_host(self.ctx.settings) != "localhost":
            # The harness runs pgBackRest on the host, where the store is on loopback as `localhost`.
            argv.insert(2, "--repo1-s3-endpoint=localhost")
            if uses_repo2(self.ctx.settings):
                argv.insert(2, "--repo2-s3-endpoint=localhost")
        full_env = {"PGPASSFILE": str(pgpass_path(self.ctx.settings)), **(env or {})}
        return run_tool(self.ctx.user, argv, what, env=full_env, cwd=self.dir, timeout=timeout, check=check)

    def _any_config(self) -> Path:
        """Repository-only commands (info, expire, verify) work through any member's config."""
        found = sorted(self.dir.glob("*.conf"))
        if not found:
            raise StateDirError(f"no pgBackRest configuration in {self.dir}; run 'drill up' first")
        return found[0]

    def stanza_create(self, primary: MemberLocation) -> None:
        """Create the stanza in the repository; a no-op when it exists and matches the cluster."""
        self._run(self.config_path(primary), ["stanza-create"], "pgbackrest stanza-create")

    def check(self, primary: MemberLocation) -> None:
        """Switch WAL on the primary and wait for the segment to reach the repository. pgBackRest's own
        failure (an archive timeout) does not say why the segment never arrived; PostgreSQL's archiver
        does, so a failure carries what pg_stat_archiver and the newest archive-push error say."""
        try:
            self._run(self.config_path(primary), ["check"], "pgbackrest check")
        except CommandFailed as e:
            raise CommandFailed(f"{e}; {self.archiver_state(primary)}") from e

    def archiver_state(self, primary: MemberLocation) -> str:
        """One line: the primary's archiver counters and the last archive-push ERROR in its log."""
        try:
            with superuser_connect(self.ctx, primary) as conn:
                row = conn.execute(
                    "SELECT archived_count, last_archived_wal, failed_count, last_failed_wal, last_failed_time"
                    " FROM pg_stat_archiver").fetchone()
        except Exception as e:  # noqa: BLE001 - a diagnosis must not hide the failure it explains
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            return f"pg_stat_archiver on {primary.name} unreadable: {first}"
        archived, last, failed, last_failed, failed_at = row if row else (0, None, 0, None, None)
        text = f"archiver on {primary.name}: {archived} archived (last {last or '-'}), {failed} failed"
        if failed:
            text += f" (last {last_failed}{f' at {failed_at:%H:%M:%S}' if failed_at else ''})"
        # archive-push's console output (warn and error) lands in the server's log, e.g. "ERROR: [045]: WAL
        # file '00000005.history' already exists in the repo1 archive with a different checksum"
        error = newest_starting(self.ctx.state_dir / "logs" / primary.name, "ERROR: [") if failed else ""
        return text + (f"; the newest archive-push error: {error[:300]}" if error else "")

    def backup(self, kind: BackupType, primary: MemberLocation, timeout: float = 3600.0) -> BackupInfo:
        """Take a full/incr/diff backup from `primary`; returns the new set."""
        deadline = time.monotonic() + timeout
        before = {b.label for b in self.list_backups(timeout)}
        self._run(self.config_path(primary), [f"--type={kind}", "backup"], f"pgbackrest {kind} backup",
                  max(deadline - time.monotonic(), 1.0))
        if uses_repo2(self.ctx.settings):  # pgBackRest 2.45 backs up to one repository per command
            self._run(self.config_path(primary), ["--repo=2", f"--type={kind}", "backup"],
                      f"pgbackrest {kind} backup to repo2 (the backup region)", max(deadline - time.monotonic(), 1.0))
        new = [b for b in self.list_backups(max(deadline - time.monotonic(), 30.0)) if b.label not in before]
        if not new:
            raise CommandFailed(f"pgbackrest {kind} backup reported success but no new backup set is listed")
        return new[-1]

    def info_json(self, timeout: float = 300.0) -> str:
        """repo1's sets only: with repo2 the same backups are listed once per repository."""
        repo = ["--repo=1"] if uses_repo2(self.ctx.settings) else []
        return self._run(self._any_config(), [*repo, "--output=json", "info"], "pgbackrest info", timeout).stdout

    def list_backups(self, timeout: float = 300.0) -> list[BackupInfo]:
        return parse_info(self.info_json(timeout), self.stanza)

    def expire(self) -> None:
        """Apply the configured retention (fulls older than 90 days, and the WAL only they needed)."""
        self._run(self._any_config(), ["expire"], "pgbackrest expire")

    def expire_incrementals(self, now: dt.datetime | None = None, keep_days: int | None = None) -> list[str]:
        """Expire incremental chains older than the spec's 7 days; returns the labels passed to --set."""
        keep = self.ctx.settings.backup.incr_retention_days if keep_days is None else keep_days
        labels = incrementals_to_expire(self.list_backups(), now or dt.datetime.now(dt.UTC), keep)
        for label in labels:
            self._run(self._any_config(), [f"--set={label}", "expire"], f"pgbackrest expire --set={label}")
        return labels

    def restore_into(self, pg_path: Path, args: list[str], timeout: float = 3600.0) -> str:
        """`pgbackrest restore` into `pg_path` (an empty directory of the run user), not a member's PGDATA."""
        return self._run(self._any_config(), [f"--pg1-path={pg_path}", *args, "restore"],
                         f"pgbackrest restore into {pg_path}", timeout).stdout

    def readable_with(self, cipher_pass: str) -> tuple[bool, str]:
        """Whether the repository opens with `cipher_pass` instead of its own (given through the
        environment, which pgBackRest ranks above the config file, so it never reaches argv)."""
        result = self._run(self._any_config(), ["--output=json", "info"],
                           "pgbackrest info with another cipher passphrase", timeout=120.0,
                           env={"PGBACKREST_REPO1_CIPHER_PASS": cipher_pass}, check=False)
        said = (result.stderr or result.stdout).strip().splitlines()
        if result.returncode != 0:
            return False, said[-1][:300] if said else f"exit {result.returncode}"
        return repo_status(result.stdout, self.stanza)

    def verify(self) -> str:
        """Read back and check every file in the repository (the daily validation job)."""
        return self._run(self._any_config(), ["verify"], "pgbackrest verify", timeout=3600.0).stdout
