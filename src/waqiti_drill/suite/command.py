"""`drill run [PATHS...] [--tags EXPR] [--run-id ID] [--reports-dir DIR] [--plan] [-q] [-- PYTEST OPTIONS]`.

pytest (with pytest-bdd and allure-pytest-bdd) runs in a subprocess: chaoslib installs signal handlers
and must run on a main thread, Locust stays in its own processes, and the harness's process keeps only
the bookkeeping: it checks the input first (one-line errors), writes run.json, shows the run's progress
(suite/liveview.py) while pytest's own output goes to <run>/pytest.log, gathers each scenario's
result.json into results.json, and exits 1 when any scenario failed. `--plan` stops after the checks and
says what would run (suite/plan.py), touching nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TextIO

from waqiti_drill.config import Settings, Targets
from waqiti_drill.errors import CommandFailed, InvalidConfig
from waqiti_drill.results import RunManifest, ScenarioResult, read_results, write_manifest
from waqiti_drill.suite import inputs
from waqiti_drill.suite.liveview import MODES, choose_mode
from waqiti_drill.suite.records import RESULT_FILE
from waqiti_drill.suite.tags import check_expression
from waqiti_drill.timefmt import utc_iso
from waqiti_drill.waiting import timeout_multiplier

ROOT = Path(__file__).resolve().parents[3]  # the checkout: conftest.py, features/, steps/
JUNIT_FILE = "junit.xml"  # in every run directory, for CI
RUN_EXIT_CODES = """exit codes of drill run (all of them: drill --help):
    0  every scenario passed (and, with --plan, the plan was shown)
    1  a scenario failed or missed a target, or no scenario matched
    2  bad input: a feature, step, tag expression, option or run directory (file:line named)
    7  the target is not healthy: nothing was started (drill up / drill heal first)
   11  another drill holds this stack's lock (the run in progress is named)
   13  a secret was found in the run's files: the evidence was not signed
  130  interrupted (Ctrl-C): the scenario in progress healed first
"""
TEST_MODULE = ROOT / "steps" / "test_drills.py"


def add_parser(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run the BDD drill suite (pytest-bdd); options after -- go to pytest",
                         epilog=RUN_EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("paths", nargs="*", metavar="PATH", help="feature files or directories (default features/)")
    run.add_argument("--tags", metavar="EXPR", help="tag expression, e.g. 'nightly', 'quarterly and not slow'")
    run.add_argument("--run-id", help="name of the run directory (default: a UTC timestamp)")
    run.add_argument("--reports-dir", default="reports", help="where run directories go (default reports/)")
    run.add_argument("--no-report", action="store_true", help="do not build the signed evidence report at the end "
                     "(drill report RUN builds it later)")
    run.add_argument("--plan", action="store_true", help="only list what would run (scenarios, faults, expected "
                     "duration from earlier runs, targets); starts nothing, writes nothing")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress output, only the summary at the end")
    run.add_argument("--progress", choices=MODES, default="auto", help="auto (default): a live view on a terminal, "
                     "one timestamped line per phase otherwise; live; plain; pytest (pytest's own output)")
    run.add_argument("--operator", help="who runs the drill, recorded in run.json and the signed report "
                     "(default $DRILL_OPERATOR, else the login user)")
    run.add_argument("--ticket", help="the change ticket this drill runs under, recorded in run.json and the "
                     "signed report")


def pytest_argv(run_dir: Path, marker: str | None, files: list[Path]) -> list[str]:
    """pytest over the scenarios of `files`. The rootdir must hold every feature file (allure-pytest-bdd
    names results by the feature's path relative to it), so a feature outside the checkout widens it."""
    rootdir = os.path.commonpath([str(ROOT), *(str(f.parent) for f in files)])
    argv = [sys.executable, "-m", "pytest", str(TEST_MODULE), "--rootdir", rootdir, "-c", str(ROOT / "pyproject.toml"),
            "-p", "no:cacheprovider", "-p", "no:locust", "-p", "waqiti_drill.suite.progress",
            "--strict-markers", "--tb=short", f"--drill-run-dir={run_dir}"]
    return argv + (["-m", marker] if marker else [])


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    files = inputs.feature_files(args.paths, ROOT / "features")
    inputs.check_features(files)
    inputs.check_alerts(files, settings.monitoring.rules_path, settings.monitoring.enabled)
    marker = check_expression(args.tags) if args.tags else None
    operator, ticket = checked_label("--operator", args.operator), checked_label("--ticket", args.ticket)
    run_id = args.run_id or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(2)
    reports_dir = Path(args.reports_dir)
    run_dir = (reports_dir / run_id).resolve()
    env = suite_env(settings, args, files)
    argv = pytest_argv(run_dir, marker, files)
    if args.plan:
        return show_plan(settings, args, argv, env)
    if run_dir.exists() and any(run_dir.iterdir()):
        raise InvalidConfig(f"{run_dir}: the run directory exists and is not empty (choose another --run-id)")
    preflight(argv, env)  # every input check before the lock: a bad feature is refused as such, drill or not
    from waqiti_drill.faults.lock import DrillLock, child_env

    if not settings.state_dir.exists():
        require_healthy(settings)  # no stack at all: refused as an unhealthy target, nothing created
    held = DrillLock(settings.state_dir).acquire(run_id)  # a second drill on this stack is refused here, at once
    if held.note:
        print(f"drill run: note: {held.note}", file=sys.stderr)
    try:
        env.update(child_env(held))  # the scenarios' actions and experiments join this drill's lock
        return _run_locked(settings, args, run_dir, argv, env, (operator, ticket), held.handle)
    finally:
        held.release()


def _run_locked(settings: Settings, args: argparse.Namespace, run_dir: Path, argv: list[str], env: dict[str, str],
                who: tuple[str | None, str | None], lock: IO[str] | None) -> int:
    """The run proper, under the drill lock (whose descriptor pytest inherits, so the lock outlives this
    process if it is killed while pytest still heals)."""
    run_id, reports_dir = run_dir.name, Path(args.reports_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    require_healthy(settings)
    manifest = start_manifest(settings, run_id, args, *who)
    write_manifest(run_dir, manifest)
    junit = ["--junitxml", str(run_dir / JUNIT_FILE), "-o", f"junit_suite_name=drill-{run_id}"]
    mode = choose_mode(args.progress, args.quiet, sys.stdout.isatty())
    try:
        rc = _run_pytest([*argv, f"--alluredir={run_dir / 'allure-results'}", *junit, *args.pytest_args], env,
                         run_dir, mode, settings, reports_dir, () if lock is None else (lock.fileno(),))
    finally:  # also on Ctrl-C: what ran is recorded
        from waqiti_drill.suite.junit import tidy

        tidy(run_dir / JUNIT_FILE)
        results = gather(run_dir)
        manifest.finished_at = utc_iso(datetime.now(UTC).timestamp())
        write_manifest(run_dir, manifest)
    print(summary(results, run_dir))
    if results and not args.no_report:
        from waqiti_drill.report.commands import build_evidence

        for line in build_evidence(settings, run_dir):  # a secret found in the run stops the signing here
            print(line)
    if rc == 5 or not results:
        print(f"drill run: no scenario matched (tags: {args.tags or '-'})", file=sys.stderr)
        return 1
    failed = [r for r in results if r.status == "failed"]
    return 1 if failed or rc not in (0, 5) else 0


def suite_env(settings: Settings, args: argparse.Namespace, files: list[Path]) -> dict[str, str]:
    env = dict(os.environ, DRILL_SUITE_FEATURES=os.pathsep.join(map(str, files)),
               DRILL_STATE_DIR=str(settings.state_dir))
    config = args.config or os.environ.get("DRILL_CONFIG")
    if config:
        env["DRILL_CONFIG"] = str(Path(config).resolve())
    return env


def checked_label(flag: str, value: str | None) -> str | None:
    """An operator name or ticket id goes into the signed record: one printable line, not too long."""
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > 200 or any(not c.isprintable() for c in text):
        raise InvalidConfig(f"{flag} must be one printable line of 1-200 characters, got {value!r}")
    return text


def show_plan(settings: Settings, args: argparse.Namespace, argv: list[str], env: dict[str, str]) -> int:
    """`--plan`: the checks a run makes, then what it would do; no run directory, no lock, no fault."""

    from waqiti_drill.suite import estimates, plan

    preflight(argv, env)
    planned = plan.collect(argv, env, ROOT)
    target = plan.Target(platform="local", state_dir=str(settings.state_dir),
                         rto_seconds=settings.targets.rto_seconds, rpo_seconds=settings.targets.rpo_seconds,
                         problems=target_problems(settings))
    print(plan.render(planned, estimates.load(Path(args.reports_dir)), target, args.tags))
    return 0 if planned else 1


def preflight(argv: list[str], env: dict[str, str]) -> None:
    """The collect-only check of every step (suite/inputs.py), its report in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="drill-preflight-") as tmp:
        inputs.preflight(argv, env, Path(tmp) / "preflight.json", ROOT)


def target_problems(settings: Settings) -> list[str]:
    from waqiti_drill.faults.health import problems
    from waqiti_drill.platform.factory import open_platform

    if not settings.state_dir.exists():
        return [f"no stack in {settings.state_dir} (run 'drill up' first)"]
    return problems(open_platform(settings))  # read-only: Patroni's REST API and Redis CLUSTER NODES


def require_healthy(settings: Settings) -> None:
    """A drill starts only on a healthy target (as the chaostoolkit safety control insists), so a missing or
    broken stack is one line now rather than every scenario timing out in its first step."""
    from waqiti_drill.faults.health import problems
    from waqiti_drill.platform.factory import open_platform

    found = problems(open_platform(settings))
    if found:
        raise CommandFailed(f"the target is not healthy: {'; '.join(found)} (run 'drill up' or 'drill heal' first)")


def start_manifest(settings: Settings, run_id: str, args: argparse.Namespace, who: str | None,
                   ticket: str | None) -> RunManifest:
    from waqiti_drill.platform.factory import open_platform
    from waqiti_drill.suite.manifest import component_versions, operator, settings_sha256

    platform = open_platform(settings)
    return RunManifest(run_id=run_id, started_at=utc_iso(datetime.now(UTC).timestamp()) or "", finished_at=None,
                       operator=who or operator(), ticket=ticket, platform=platform.name,
                       command=["drill", *sys.argv[1:]],
                       tags=args.tags, components=component_versions(platform),
                       config_sha256=settings_sha256(settings),
                       targets=Targets(settings.targets.rto_seconds, settings.targets.rpo_seconds),
                       timeout_multiplier=timeout_multiplier())


def _run_pytest(argv: list[str], env: dict[str, str], run_dir: Path, mode: str, settings: Settings,
                reports_dir: Path, keep_fds: tuple[int, ...] = ()) -> int:
    """pytest's output goes to <run>/pytest.log, and to the terminal as it comes only in `pytest` mode;
    otherwise the watcher shows the run's progress (live or plain) or nothing (quiet)."""
    with open(run_dir / "pytest.log", "w") as log:
        if mode == "pytest":
            proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, bufsize=1, pass_fds=keep_fds)
            assert proc.stdout is not None
            return _follow(proc, lambda: _tee(proc.stdout, log))  # type: ignore[arg-type]
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, pass_fds=keep_fds)
        if mode == "quiet":
            return _follow(proc, proc.wait)
        from waqiti_drill.suite.estimates import load
        from waqiti_drill.suite.livestate import RunFeed
        from waqiti_drill.suite.liveview import Watcher

        feed = RunFeed(run_dir, settings.state_dir, load(reports_dir, exclude=run_dir), time.time())
        with Watcher(feed, mode):
            return _follow(proc, proc.wait)


def _follow(proc: subprocess.Popen[str], wait: Callable[[], object]) -> int:
    try:
        wait()
    except KeyboardInterrupt:
        # pytest got the Ctrl-C too and tears the scenario down, which heals: keep following it (a closed
        # pipe would break the heal) until it exits, then report the interruption.
        print("drill run: interrupted; waiting for the scenario in progress to heal", file=sys.stderr)
        wait()
        proc.wait()
        raise
    return proc.wait()


def _tee(stream: TextIO, log: TextIO) -> None:
    for line in stream:
        sys.stdout.write(line)
        log.write(line)


def gather(run_dir: Path) -> list[ScenarioResult]:
    """Each scenario's result.json, in the order the scenarios started, written as results.json."""
    records = []
    for path in sorted((run_dir / "scenarios").glob(f"*/{RESULT_FILE}")):
        records.append(json.loads(path.read_text()))
    records.sort(key=lambda r: r.get("started_at") or "")
    (run_dir / "results.json").write_text(json.dumps(records, indent=2) + "\n")
    return read_results(run_dir)  # read back through the contract: a record that does not fit fails here


def summary(results: list[ScenarioResult], run_dir: Path) -> str:
    def fig(value: float | int | None, unit: str = "") -> str:
        return "-" if value is None else f"{value:.1f}{unit}" if isinstance(value, float) else f"{value}{unit}"

    lines = [f"{'status':8} {'RTO':>8} {'RPO':>8} {'acked':>7} {'lost':>5}  scenario"]
    for r in results:
        lines.append(f"{r.status:8} {fig(r.rto_seconds, 's'):>8} {fig(r.rpo_seconds, 's'):>8} "
                     f"{fig(r.acked_writes):>7} {fig(r.lost_writes):>5}  {r.feature}: {r.scenario}")
        lines += [f"{'':8} deviation: {d}" for d in r.deviations if r.status != "passed"]
    passed = sum(r.status == "passed" for r in results)
    lines.append(f"{passed} passed, {sum(r.status == 'failed' for r in results)} failed, "
                 f"{sum(r.status == 'skipped' for r in results)} skipped; results: {run_dir / 'results.json'}")
    return "\n".join(lines)
