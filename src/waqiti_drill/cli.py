"""The `drill` command. Every expected failure ends as one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from waqiti_drill.config import Settings, Targets, load_settings
from waqiti_drill.datajson import to_json
from waqiti_drill.errors import DrillError, InvalidConfig
from waqiti_drill.faults.lock import DrillLock, Held, child_env
from waqiti_drill.platform.base import BackupInfo, MonitoringStatus, Platform, PlatformStatus, RedisBackupInfo
from waqiti_drill.platform.redis_slots import TOTAL_SLOTS
from waqiti_drill.report.commands import register as register_report_commands
from waqiti_drill.waiting import timeout_multiplier


def _platform(settings: Settings) -> Platform:
    from waqiti_drill.platform.factory import open_platform  # imported lazily to keep `drill --help` fast

    return open_platform(settings)


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    started = time.monotonic()
    status = _platform(settings).up()
    print(f"stack healthy in {time.monotonic() - started:.1f}s (state: {settings.state_dir})")
    print(render_endpoints(status, settings))
    for note in status.notes:
        print(f"note: {note}")
    return 0


def cmd_down(settings: Settings, args: argparse.Namespace) -> int:
    started = time.monotonic()
    found = _platform(settings).down(purge=args.purge)
    if not found:
        print(f"nothing to stop: no stack in {settings.state_dir}")
        return 0
    what = "stopped and purged" if args.purge else "stopped"
    print(f"{what} in {time.monotonic() - started:.1f}s ({settings.state_dir})")
    return 0


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    status = _platform(settings).status()
    if args.json:
        print(json.dumps(dataclasses.asdict(status), indent=2))
    else:
        print(render_status(status, settings))
    return 0 if not status.problems else 1


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    started = time.monotonic()
    if args.kind == "redis":
        redis = _platform(settings).backup_redis()
        print(f"redis backup {redis.label} done in {time.monotonic() - started:.1f}s ({len(redis.shards)} masters, "
              f"{sum(s.keys for s in redis.shards)} keys, {sum(s.size_bytes for s in redis.shards)} bytes, "
              f"{redis.encryption})")
        return 0
    info = _platform(settings).backup(args.kind)
    print(f"{info.type} backup {info.label} done in {time.monotonic() - started:.1f}s "
          f"(WAL {info.wal_start}..{info.wal_stop}, {info.repo_size_bytes} bytes in the repository)")
    return 0


def cmd_backups(settings: Settings, args: argparse.Namespace) -> int:
    """PostgreSQL sets, or with --redis the Redis backups (each region's store, when there are two)."""
    platform = _platform(settings)
    if args.redis:
        lists = [platform.list_redis_backups()]
        if settings.region.enabled and platform.region_status().active == settings.region.primary:
            lists.append(platform.list_redis_backups_in_backup_region())
        redis = [b for found in lists for b in found]
        if args.json:
            print(json.dumps([dataclasses.asdict(b) for b in redis], indent=2))
        else:
            print(render_redis_backups(redis))
        return 0
    backups = platform.list_backups()
    if args.json:
        print(json.dumps([dataclasses.asdict(b) for b in backups], indent=2))
    else:
        print(render_backups(backups))
        if settings.region.enabled:
            print(render_replication(platform))
    return 0


def render_redis_backups(backups: Sequence[RedisBackupInfo]) -> str:
    if not backups:
        return "no redis backups"
    lines = [f"{'label':24} {'region':10} {'start':24} {'masters':>7} {'keys':>9} {'bytes':>10} complete"]
    for b in backups:  # start in timefmt's notation (24 characters; older manifests have whole seconds)
        lines.append(f"{b.label:24} {b.region:10} {b.start:24} {len(b.shards):>7} {sum(s.keys for s in b.shards):>9} "
                     f"{sum(s.size_bytes for s in b.shards):>10} {'yes' if b.complete else 'NO (objects missing)'}")
    return "\n".join(lines)


def render_replication(platform: object) -> str:
    try:
        r = platform.replication_status()  # type: ignore[attr-defined]
    except DrillError as exc:
        return f"replication to the backup region: not measured ({exc})"
    except Exception as exc:  # noqa: BLE001 - a store that does not answer: say so, do not fail the listing
        return f"replication to the backup region: not measured ({type(exc).__name__}: {exc})"
    sync = (f"last sync {r.last_sync_finished or 'running since ' + str(r.last_sync_started)} "
            f"({'ok' if r.last_sync_ok else r.last_sync_error or 'no result yet'})")
    return (f"replication to {r.backup_region} ({r.method}): newest WAL {r.primary_newest_wal} here, "
            f"{r.backup_newest_wal} there; {r.segments_behind} segment(s) behind, lag {r.lag_seconds:.1f}s; {sync}")


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    """Restore the newest set (or the point in time --to) into a copy beside the cluster; --drop removes it."""
    platform = _platform(settings)
    if args.drop:
        platform.drop_restore_copy()
        print("restored copy dropped")
        return 0
    info = platform.restore_copy(args.to, args.database)
    kwargs = platform.restore_connect_kwargs(args.database)
    b = info.backup
    print(f"restored {b.type} backup {b.label} (WAL {b.wal_start}..{b.wal_stop}) to {info.recovery_target} "
          f"in {info.seconds:.1f}s")
    print(f"  {args.database}: {kwargs['conninfo']}")
    print("  drop it with: drill restore --drop")
    return 0


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 when every target is met, 1 when one is missed; a history that cannot be checked is an error."""
    from waqiti_drill.checker import MODES, check, render_table  # numpy: imported only by the command needing it

    if args.mode is not None and args.mode not in MODES:
        raise InvalidConfig(f"--mode must be one of {', '.join(MODES)}, got {args.mode!r}")
    targets = Targets(rto_seconds=_seconds("--rto", args.rto, settings.targets.rto_seconds),
                      rpo_seconds=_seconds("--rpo", args.rpo, settings.targets.rpo_seconds))
    slow = _seconds("--slow", args.slow, 1.0, allow_zero=False)
    result = check(Path(args.history), targets, slow_seconds=slow, mode=args.mode)
    print(json.dumps(to_json(result), indent=2, allow_nan=False) if args.json else render_table(result))
    return 0 if result.passed else 1


def cmd_load(settings: Settings, args: argparse.Namespace) -> int:
    """Run a named load profile against the stack for a while, then read everything back."""
    from waqiti_drill.workload.runner import LoadSpec
    from waqiti_drill.workload.session import LoadSession, new_run_id, summarize

    duration = _seconds("--duration", args.duration, 60.0, allow_zero=False)
    wait = _seconds("--wait", args.wait, 0.01)
    spec = LoadSpec(profile=args.profile, users=_count("--users", args.users, 12, 1),
                    workers=_count("--workers", args.workers, 0, 0), duration=duration, wait=wait,
                    services=tuple(s.strip() for s in args.services.split(",") if s.strip()))
    run_id = new_run_id()
    run_dir = Path(args.run_dir) if args.run_dir else Path("reports") / run_id
    session = LoadSession(_platform(settings), run_dir, spec, run_id=run_id)
    print(f"load '{spec.profile}' with {spec.users} users on {', '.join(spec.services)} for {duration:g}s "
          f"(run {run_id}, {run_dir})", flush=True)
    with session:
        session.load.wait(duration + 60)  # type: ignore[union-attr]
    session.read_back()
    print(summarize(session.history_dir))
    print(f"history: {session.history_dir}   Locust stats: {run_dir}/locust_stats.csv")
    return 0


def cmd_heal(settings: Settings, args: argparse.Namespace) -> int:
    """Undo every fault a drill left (the ledger, frozen processes, partitions), restart what is down,
    and wait until the platform is healthy again."""
    from waqiti_drill.faults.engine import FaultEngine

    started = time.monotonic()
    faults = FaultEngine(settings, _platform(settings), args.config or os.environ.get("DRILL_CONFIG"))
    held = _heal_lock(faults.safety.lock, args)  # a running drill heals itself; never undo its faults under it
    try:
        undone = faults.heal(float(args.timeout), None)
    finally:
        if held is not None:
            held.release()
    for line in undone:
        print(f"undone: {line}")
    print(f"healthy in {time.monotonic() - started:.1f}s ({len(undone)} fault(s) undone)")
    return 0


def _heal_lock(lock: DrillLock, args: argparse.Namespace) -> Held | None:
    """The drill lock for `drill heal`: taken at once, or after waiting for the drill in progress (--wait),
    or not at all beside it (--force); without either, a drill in progress is a one-line refusal."""
    from waqiti_drill.errors import LockHeld
    from waqiti_drill.waiting import wait_until

    wait = _seconds("--wait", args.wait, 0.0)
    try:
        held = lock.acquire("heal", "drill heal")
    except LockHeld as exc:
        if args.force:
            print(f"drill heal: --force: healing beside the drill in progress ({exc})", file=sys.stderr)
            return None
        if not wait:
            raise LockHeld(f"{exc}; it heals itself when it ends (drill heal --wait SECONDS waits for it, "
                           "--force heals beside it)") from None
        print(f"drill heal: waiting up to {wait:g}s for the drill in progress ({exc})", file=sys.stderr, flush=True)
        held = wait_until(lambda: (True, lock.acquire("heal", "drill heal")), wait,  # the user's bound: unscaled
                          "the drill in progress to end (its lock)", interval=1.0, scaled=False)
    if held.note:
        print(f"drill heal: note: {held.note}", file=sys.stderr)
    return held


def cmd_chaos(settings: Settings, args: argparse.Namespace) -> int:
    """Run one chaostoolkit experiment with the safety control and rollbacks always played."""
    from waqiti_drill.faults import experiment
    from waqiti_drill.workload.session import new_run_id

    if args.validate:
        experiment.load(Path(args.experiment))
        print(f"{args.experiment}: valid")
        return 0
    run_dir = Path(args.run_dir) if args.run_dir else Path("reports") / new_run_id()
    config_file = args.config or os.environ.get("DRILL_CONFIG")
    experiment.load(Path(args.experiment))  # a bad file is a one-line error before anything is locked
    held = DrillLock(settings.state_dir).acquire(run_dir.name)  # refused at once beside another drill
    if held.note:
        print(f"drill chaos: note: {held.note}", file=sys.stderr)
    os.environ.update(child_env(held))  # the experiment's safety control, in this process, joins this drill
    try:
        journal = experiment.run(Path(args.experiment), settings, run_dir, config_file)
    finally:
        held.release()
    passed, line = experiment.summary(journal)
    from waqiti_drill.suite.junit import write_one

    write_one(run_dir / "junit.xml", f"drill-chaos-{run_dir.name}", "chaos", Path(args.experiment).stem,
              float(journal.get("duration") or 0.0), None if passed else line)
    print(f"{line} (journal: {run_dir / 'journal.json'})")
    return 0 if passed else 1


def _count(flag: str, raw: str | None, default: int, minimum: int) -> int:
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise InvalidConfig(f"{flag} must be a whole number >= {minimum}, got {raw!r}")
    return int(raw)


def _seconds(flag: str, raw: str | None, default: float, allow_zero: bool = True) -> float:
    """Numbers are parsed here rather than by argparse so a bad one is a one-line error like any other."""
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        kind = "a non-negative" if allow_zero else "a positive"
        raise InvalidConfig(f"{flag} must be {kind} number of seconds, got {raw!r}")
    return value


def render_endpoints(status: PlatformStatus, settings: Settings) -> str:
    p = settings.ports
    lines = [
        f"  waqiti-postgres-primary (rw): {status.postgres.rw_dsn}",
        f"  waqiti-postgres-replica (ro): {status.postgres.ro_dsn}",
        "  redis-cluster: " + " ".join(f"{settings.host}:{port}" for port in p.redis),
        f"  s3: {status.s3.endpoint} bucket {status.s3.bucket} (CA {status.s3.ca_file})",
        f"  haproxy stats: http://{settings.host}:{p.haproxy_stats}/",
        f"  passwords: {settings.state_dir / 'secrets.json'} unless given by DRILL_* variables",
    ]
    return "\n".join(lines)


def render_status(status: PlatformStatus, settings: Settings) -> str:
    lines = ["PostgreSQL (Patroni):", f"  {'member':8} {'role':13} {'state':12} {'TL':>3} {'lag bytes':>10}"]
    for m in status.postgres.members:
        lag = "-" if m.lag_bytes is None else str(m.lag_bytes)
        lines.append(f"  {m.name:8} {m.role:13} {m.state:12} {m.timeline or '-':>3} {lag:>10}")
    lines.append(f"Redis cluster: state {status.redis.cluster_state}, {status.redis.slots_covered}/{TOTAL_SLOTS} slots")
    for n in status.redis.nodes:
        slots = ",".join(f"{a}-{b}" for a, b in n.slots) or "-"
        lines.append(f"  {n.address:16} {n.role:8} {'up' if n.connected else 'DOWN':5} slots {slots}")
    lines.append(f"S3: {status.s3.endpoint} bucket {status.s3.bucket}")
    lines.append(f"Backups: {len(status.backups)}" + (f", latest {status.backups[-1].label}" if status.backups else ""))
    if status.network_faults:
        lines.append(f"Network partitions in force: {', '.join(status.network_faults)}")
    if status.disk_faults:
        lines.append(f"Disks filled: {', '.join(status.disk_faults)}")
    if status.monitoring_faults:
        lines.append(f"Monitoring drill conditions in force: {', '.join(status.monitoring_faults)}")
    lines += [f"Note: {note}" for note in status.notes]
    if status.monitoring is not None:
        lines += render_monitoring(status.monitoring)
    lines += [f"PROBLEM: {p}" for p in status.problems]
    return "\n".join(lines)


def render_monitoring(m: MonitoringStatus) -> list[str]:
    lines = [f"Monitoring: Prometheus {m.prometheus}, Alertmanager {m.alertmanager}",
             f"  scrape {m.scrape_interval_seconds:g}s, evaluation {m.evaluation_interval_seconds:g}s, "
             f"group_wait {m.group_wait_seconds:g}s; rules {m.rules_file} (sha256 {m.rules_sha256[:12]})"]
    up = sum(1 for t in m.targets if t.health == "up")
    lines.append(f"  targets: {up}/{len(m.targets)} up")
    for t in m.targets:
        what = ",".join(f"{k}={v}" for k, v in sorted(t.labels.items()))
        error = f"  {t.last_error}" if t.last_error else ""
        lines.append(f"  {t.job:14} {t.instance:16} {t.health:7} {what}{error}")
    for a in m.alerts:
        what = ",".join(f"{k}={v}" for k, v in sorted(a.labels.items()) if k not in ("severity", "spec", "category"))
        lines.append(f"  ALERT {a.name} {a.state} since {a.active_at} ({what})")
    return lines


def render_backups(backups: Sequence[BackupInfo]) -> str:
    if not backups:
        return "no backups"
    lines = [f"{'label':32} {'type':5} {'start':21} {'stop':21} {'WAL start..stop':50} {'repo bytes':>11}"]
    for b in backups:
        lines.append(f"{b.label:32} {b.type:5} {b.start:21} {b.stop:21} {b.wal_start + '..' + b.wal_stop:50} "
                     f"{b.repo_size_bytes:>11}")
    return "\n".join(lines)


def exit_code_help() -> str:
    from waqiti_drill.errors import exit_codes

    return "exit codes:\n" + "\n".join(f"  {code:>3}  {what}" for code, what in exit_codes().items())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drill", description="Waqiti DR drill harness", epilog=exit_code_help(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-dir", help="where the embedded stack keeps everything (env DRILL_STATE_DIR)")
    parser.add_argument("--config", help="TOML file overriding ports and targets (env DRILL_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("up", help="start the embedded stack (idempotent); exits 0 when every part is healthy")
    down = sub.add_parser("down", help="stop every process of the stack")
    down.add_argument("--purge", action="store_true", help="also remove the state directory")
    status = sub.add_parser("status", help="members, roles, Redis nodes, S3 and backups")
    status.add_argument("--json", action="store_true")
    backup = sub.add_parser("backup", help="take a pgBackRest backup now")
    backup.add_argument("kind", choices=["full", "incr", "diff", "redis"],
                        help="a pgBackRest backup, or 'redis': an RDB of every Redis master")
    backups = sub.add_parser("backups", help="list the backups in the repository (and the replication lag)")
    backups.add_argument("--json", action="store_true")
    backups.add_argument("--redis", action="store_true", help="the Redis backups, in each region's store")
    restore = sub.add_parser("restore", help="restore a backup into a copy beside the cluster (the spec's restore job)")
    restore.add_argument("--to", metavar="TIME", help="point in time, ISO 8601 UTC (default: the newest set's "
                         "consistent point)")
    restore.add_argument("--database", default="waqiti_restored", help="the copy's database name (default "
                         "waqiti_restored)")
    restore.add_argument("--drop", action="store_true", help="stop and remove the restored copy")
    load = sub.add_parser("load", help="run a Locust load profile against the stack, then read everything back")
    load.add_argument("--profile", default="drill", help="steady | ramp | spike | drill (default drill)")
    load.add_argument("--users", metavar="N", help="nominal number of users (default 12)")
    load.add_argument("--duration", metavar="SECONDS", help="how long to run (default 60)")
    load.add_argument("--wait", metavar="SECONDS", help="pause between one user's operations (default 0.01)")
    load.add_argument("--workers", metavar="N", help="Locust worker processes; 0 runs one local process (default)")
    load.add_argument("--services", default="postgres,redis", help="comma-separated: postgres, redis")
    load.add_argument("--run-dir", help="where the history and Locust stats go (default reports/<run-id>)")
    heal = sub.add_parser("heal", help="undo every fault a drill left behind and wait until healthy")
    heal.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for health (default 300)")
    heal.add_argument("--wait", metavar="SECONDS", help="beside a drill in progress, wait up to SECONDS for it "
                      "to end (default: refuse at once)")
    heal.add_argument("--force", action="store_true", help="heal beside a drill in progress (it may then measure "
                      "and heal against a platform changed under it)")
    chaos = sub.add_parser("chaos", help="run (or --validate) one chaostoolkit experiment from scenarios/")
    chaos.add_argument("experiment", help="a scenarios/*.yaml file")
    chaos.add_argument("--validate", action="store_true", help="only check the file")
    chaos.add_argument("--run-dir", help="where the journal and fault records go (default reports/<run-id>)")
    check = sub.add_parser("check", help="measure RTO and RPO from a run's history; exits 1 when a target is missed")
    check.add_argument("history", help="a run directory of *.jsonl history files, or one file")
    check.add_argument("--json", action="store_true", help="print the full result as JSON")
    check.add_argument("--rto", metavar="SECONDS", help="RTO target (default: settings, 900)")
    check.add_argument("--rpo", metavar="SECONDS", help="RPO target (default: settings, 3600)")
    check.add_argument("--slow", metavar="SECONDS", help="an acknowledged write slower than this counts as "
                       "affected by the outage (default 1)")
    check.add_argument("--mode", metavar="{failover,restore}", help="how RPO is measured (default: the fault "
                       "record's rpo_mode, else failover)")
    register_report_commands(sub, COMMANDS)
    from waqiti_drill.suite.command import add_parser as add_run_parser  # noqa: I001

    add_run_parser(sub)
    return parser


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from waqiti_drill.suite.command import cmd_run as run_suite

    return run_suite(settings, args)


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "up": cmd_up,
    "down": cmd_down,
    "status": cmd_status,
    "backup": cmd_backup,
    "backups": cmd_backups,
    "restore": cmd_restore,
    "check": cmd_check,
    "load": cmd_load,
    "heal": cmd_heal,
    "chaos": cmd_chaos,
    "run": cmd_run,
}


def main(argv: Sequence[str] | None = None) -> int:
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN and threading.current_thread() is threading.main_thread():
        # Started in the background by a non-interactive shell (nohup, a CI runner), SIGINT arrives ignored
        # and Python keeps it so: `kill -INT` would then do nothing, where it is the drill's "stop and heal"
        signal.signal(signal.SIGINT, signal.default_int_handler)
    argv = list(sys.argv[1:] if argv is None else argv)
    passed_on: list[str] = []
    if "--" in argv:  # `drill run ... -- PYTEST OPTIONS`: what follows goes to pytest untouched
        argv, passed_on = argv[: argv.index("--")], argv[argv.index("--") + 1:]
    args = build_parser().parse_args(argv)
    args.pytest_args = passed_on
    settings: Settings | None = None
    try:
        settings = load_settings(args.state_dir, args.config)
        timeout_multiplier()  # a bad DRILL_TIMEOUT_MULTIPLIER is refused before anything runs
        return COMMANDS[args.command](settings, args)
    except DrillError as exc:
        print(f"drill {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"drill {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, details in a file
        where = _write_crash_report(settings, args.command)
        print(f"drill {args.command}: internal error: {type(exc).__name__}: {exc} (details: {where})",
              file=sys.stderr)
        return 70


def _write_crash_report(settings: Settings | None, command: str) -> Path:
    base = settings.state_dir / "logs" if settings and settings.state_dir.exists() else Path("/tmp")
    path = base / f"drill-{command}-crash.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(traceback.format_exc())
    except OSError:
        pass
    return path


if __name__ == "__main__":
    sys.exit(main())
