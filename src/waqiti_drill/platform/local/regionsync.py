"""The spec's "automated S3 sync": a scheduled `aws s3 sync` of the backup bucket to the backup region.

A supervised process (`python -m waqiti_drill.platform.local.regionsync run <plan.json>`) is the
scheduler, as a CronJob would be: every `sync_interval_seconds` (or at once when the harness drops a
trigger file) it runs the real AWS CLI (Debian's awscli) twice, since the two regions are two object
stores: the primary bucket into a local staging directory, then the staging directory into the backup
region's bucket (`--sse AES256` on top of that bucket's own default). It never deletes in the backup
region (like S3 replication without delete markers), so an expiry or a ransomware delete in the
primary does not propagate. The staging copy holds only what the bucket holds, which is encrypted
before it is written (pgBackRest's aes-256-cbc, the Redis backups' AES-256-GCM). It runs in the
primary region, so a region loss stops it: what it had copied by then is what the backup region has.

Credentials are a mode-600 shared-credentials file with one profile per region; nothing secret is in
argv or the environment. AWS_EC2_METADATA_DISABLED keeps the CLI from looking for an instance role.
Each run's outcome is written to `status.json` beside the plan; its output goes to the supervisor's log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from waqiti_drill.platform.local.commands import last_line, run_tool
from waqiti_drill.platform.local.context import LocalContext, find_binary
from waqiti_drill.platform.local.runas import make_dir, write_file
from waqiti_drill.platform.local.supervisor import ProcessSpec
from waqiti_drill.timefmt import now_utc_iso
from waqiti_drill.waiting import wait_until

PROCESS = "regionsync"
AWS_PACKAGE = "the Debian package awscli"
PG_PREFIX = "pgbackrest/"  # where pgBackRest's repository lives in the bucket (repo1-path /pgbackrest)


@dataclass(frozen=True)
class SyncRun:
    """One run of the scheduled sync, as status.json records it."""

    run: int
    started: str  # ISO 8601 UTC
    finished: str | None
    ok: bool | None
    error: str | None
    requested: int  # the trigger it answered (0: the schedule)


def aws_binary() -> str:
    return find_binary("aws", AWS_PACKAGE, extra_dirs=("/usr/bin",))  # Debian's, not a user's pyenv shim


def credentials_text(primary: LocalContext, backup: LocalContext) -> str:
    """The shared-credentials file: one profile per region's store (mode 600)."""
    lines = []
    for profile, ctx in (("primary", primary), ("backup", backup)):
        lines += [f"[{profile}]", f"aws_access_key_id = {ctx.secrets.s3_access_key}",
                  f"aws_secret_access_key = {ctx.secrets.s3_secret_key}", ""]
    return "\n".join(lines)


def config_text(primary_region: str, backup_region: str) -> str:
    lines = []
    for profile, region in (("primary", primary_region), ("backup", backup_region)):
        lines += [f"[profile {profile}]", f"region = {region}", "s3 =", "    addressing_style = path", ""]
    return "\n".join(lines)


def copy_steps(aws: str, src: LocalContext, src_profile: str, dst: LocalContext, dst_profile: str,
               staging: Path, only_redis: bool) -> list[dict[str, object]]:
    """The two `aws s3 sync` commands copying src's bucket into dst's, through `staging` (pure)."""
    bucket = src.settings.backup.bucket
    excludes = ["--exclude", PG_PREFIX + "*"] if only_redis else []
    common = ["--no-progress", "--only-show-errors", "--ca-bundle", str(src.tls.ca_cert), *excludes]
    down = [aws, "s3", "sync", f"s3://{bucket}/", f"{staging}/", "--endpoint-url",
            f"https://localhost:{src.settings.ports.s3}", *common]
    up = [aws, "s3", "sync", f"{staging}/", f"s3://{dst.settings.backup.bucket}/", "--endpoint-url",
          f"https://localhost:{dst.settings.ports.s3}", "--sse", "AES256", *common]
    return [{"name": "download", "argv": down, "profile": src_profile},
            {"name": "upload", "argv": up, "profile": dst_profile}]


class RegionSync:
    """The scheduler process and its files, in the primary region's state (`<state>/regionsync/`)."""

    def __init__(self, primary: LocalContext, backup: LocalContext) -> None:
        self.primary, self.backup = primary, backup
        self.dir = primary.state_dir / "regionsync"
        self.plan = self.dir / "plan.json"
        self.status_path = self.dir / "status.json"
        self.trigger = self.dir / "trigger"

    def process_names(self) -> list[str]:
        return [PROCESS]

    def aws_env(self) -> dict[str, str]:
        return {"AWS_SHARED_CREDENTIALS_FILE": str(self.dir / "credentials"),
                "AWS_CONFIG_FILE": str(self.dir / "config"), "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": ""}

    def render(self) -> None:
        user, region = self.primary.user, self.primary.settings.region
        make_dir(user, self.dir, 0o700)
        make_dir(user, self.dir / "staging", 0o700)
        write_file(user, self.dir / "credentials", credentials_text(self.primary, self.backup), 0o600)
        write_file(user, self.dir / "config", config_text(region.primary, region.backup), 0o600)
        steps = copy_steps(aws_binary(), self.primary, "primary", self.backup, "backup", self.dir / "staging",
                           only_redis=region.replication == "repo2")
        plan = {"interval": region.sync_interval_seconds, "steps": steps, "env": self.aws_env(),
                "status": str(self.status_path), "trigger": str(self.trigger)}
        write_file(user, self.plan, json.dumps(plan, indent=1), 0o600)

    def start(self) -> None:
        if self.primary.supervisor.pid_of(PROCESS):
            return
        self.render()
        argv = [sys.executable, "-m", "waqiti_drill.platform.local.regionsync", "run", str(self.plan)]
        self.primary.supervisor.start(ProcessSpec(name=PROCESS, argv=argv, cwd=self.dir))

    def last_run(self) -> SyncRun | None:
        try:
            return SyncRun(**json.loads(self.status_path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def sync_now(self, timeout: float = 300.0) -> SyncRun:
        """Ask the scheduler for a run now and wait for it to finish; CommandFailed-free: the run says."""
        self.primary.supervisor.check_alive(PROCESS, "the region sync")
        request = time.time_ns()
        write_file(self.primary.user, self.trigger, str(request), 0o600)

        def done() -> tuple[bool, SyncRun | str]:
            run = self.last_run()
            if self.primary.supervisor.pid_of(PROCESS) is None:
                return True, "the region sync exited"
            ok = run is not None and run.requested == request and run.finished is not None
            return ok, run if ok and run else f"last run: {run}"

        seen = wait_until(done, timeout, "the region sync to run once on request")
        if isinstance(seen, str):
            self.primary.supervisor.check_alive(PROCESS, "the region sync")
        return seen  # type: ignore[return-value]


def copy_bucket_once(src: LocalContext, src_profile: str, dst: LocalContext, dst_profile: str, staging: Path,
                     env: dict[str, str], timeout: float = 900.0) -> None:
    """One synchronous copy of src's bucket into dst's (the failback's reverse replication)."""
    make_dir(src.user, staging, 0o700)
    for step in copy_steps(aws_binary(), src, src_profile, dst, dst_profile, staging, only_redis=False):
        run_tool(src.user, list(step["argv"]), f"aws s3 sync ({step['name']})",  # type: ignore[call-overload]
                 env={**env, "AWS_PROFILE": str(step["profile"])}, cwd=staging, timeout=timeout)


# ----- the scheduler process itself ---------------------------------------------------------------


def _write_status(path: Path, run: SyncRun) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(asdict(run)))
    os.replace(tmp, path)


def _run_once(plan: dict, number: int, requested: int) -> SyncRun:
    started = now_utc_iso()
    _write_status(Path(plan["status"]), SyncRun(number, started, None, None, None, requested))
    error = None
    for step in plan["steps"]:
        env = {**os.environ, **plan["env"], "AWS_PROFILE": step["profile"]}
        proc = subprocess.run(step["argv"], env=env, capture_output=True, text=True, errors="replace")
        for line in (proc.stdout + proc.stderr).splitlines():
            print(f"{now_utc_iso()} run {number} {step['name']}: {line}", flush=True)
        if proc.returncode != 0:
            error = f"{step['name']} exit {proc.returncode}: {last_line(proc.stderr or proc.stdout)}"
            break
    result = SyncRun(number, started, now_utc_iso(), error is None, error, requested)
    _write_status(Path(plan["status"]), result)
    print(f"{now_utc_iso()} run {number} {'ok' if error is None else 'FAILED: ' + error}", flush=True)
    return result


def _take_trigger(path: Path) -> int | None:
    try:
        value = int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return None
    path.unlink(missing_ok=True)
    return value


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "run":
        print("usage: python -m waqiti_drill.platform.local.regionsync run PLAN.json", file=sys.stderr)
        return 2
    plan = json.loads(Path(argv[1]).read_text())
    interval, number, next_at = float(plan["interval"]), 0, time.monotonic()
    print(f"{now_utc_iso()} region sync started: every {interval:g}s, {len(plan['steps'])} steps", flush=True)
    while True:
        requested = _take_trigger(Path(plan["trigger"]))
        if requested is None and time.monotonic() < next_at:
            time.sleep(0.2)
            continue
        number += 1
        next_at = time.monotonic() + interval
        _run_once(plan, number, requested or 0)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
