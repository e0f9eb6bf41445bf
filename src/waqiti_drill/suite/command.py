"""`drill run [PATHS...] [--tags EXPR] [--run-id ID] [--reports-dir DIR] [-- PYTEST OPTIONS]`.

pytest (with pytest-bdd and allure-pytest-bdd) runs in a subprocess: chaoslib installs signal handlers
and must run on a main thread, Locust stays in its own processes, and the harness's process keeps only
the bookkeeping: it checks the input first (one-line errors), writes run.json, gathers each scenario's
result.json into results.json, and exits 1 when any scenario failed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from waqiti_drill.config import Settings, Targets
from waqiti_drill.errors import CommandFailed, InvalidConfig
from waqiti_drill.results import RunManifest, ScenarioResult, read_results, write_manifest
from waqiti_drill.suite import inputs
from waqiti_drill.suite.records import RESULT_FILE
from waqiti_drill.suite.tags import check_expression
from waqiti_drill.timefmt import utc_iso
from waqiti_drill.waiting import timeout_multiplier

ROOT = Path(__file__).resolve().parents[3]  # the checkout: conftest.py, features/, steps/
TEST_MODULE = ROOT / "steps" / "test_drills.py"


def add_parser(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run the BDD drill suite (pytest-bdd); options after -- go to pytest")
    run.add_argument("paths", nargs="*", metavar="PATH", help="feature files or directories (default features/)")
    run.add_argument("--tags", metavar="EXPR", help="tag expression, e.g. 'nightly', 'quarterly and not slow'")
    run.add_argument("--run-id", help="name of the run directory (default: a UTC timestamp)")
    run.add_argument("--reports-dir", default="reports", help="where run directories go (default reports/)")
    run.add_argument("--no-report", action="store_true", help="do not build the signed evidence report at the end "
                     "(drill report RUN builds it later)")


def pytest_argv(run_dir: Path, marker: str | None, files: list[Path]) -> list[str]:
    """pytest over the scenarios of `files`. The rootdir must hold every feature file (allure-pytest-bdd
    names results by the feature's path relative to it), so a feature outside the checkout widens it."""
    rootdir = os.path.commonpath([str(ROOT), *(str(f.parent) for f in files)])
    argv = [sys.executable, "-m", "pytest", str(TEST_MODULE), "--rootdir", rootdir, "-c", str(ROOT / "pyproject.toml"),
            "-p", "no:cacheprovider",
            "-p", "no:locust", "--strict-markers", "--tb=short", f"--drill-run-dir={run_dir}"]
    return argv + (["-m", marker] if marker else [])


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    files = inputs.feature_files(args.paths, ROOT / "features")
    inputs.check_features(files)
    marker = check_expression(args.tags) if args.tags else None
    run_id = args.run_id or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(2)
    run_dir = (Path(args.reports_dir) / run_id).resolve()
    if run_dir.exists() and any(run_dir.iterdir()):
        raise InvalidConfig(f"{run_dir}: the run directory exists and is not empty (choose another --run-id)")
    run_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, DRILL_SUITE_FEATURES=os.pathsep.join(map(str, files)),
               DRILL_STATE_DIR=str(settings.state_dir))
    config = args.config or os.environ.get("DRILL_CONFIG")
    if config:
        env["DRILL_CONFIG"] = str(Path(config).resolve())
    argv = pytest_argv(run_dir, marker, files)
    inputs.preflight(argv, env, run_dir / "preflight.json", ROOT)
    require_healthy(settings)
    manifest = start_manifest(settings, run_id, args)
    write_manifest(run_dir, manifest)
    try:
        rc = _run_pytest([*argv, f"--alluredir={run_dir / 'allure-results'}", *args.pytest_args], env, run_dir)
    finally:  # also on Ctrl-C: what ran is recorded
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


def require_healthy(settings: Settings) -> None:
    """A drill starts only on a healthy target (as the chaostoolkit safety control insists), so a missing or
    broken stack is one line now rather than every scenario timing out in its first step."""
    from waqiti_drill.faults.health import problems
    from waqiti_drill.platform.factory import open_platform

    found = problems(open_platform(settings))
    if found:
        raise CommandFailed(f"the target is not healthy: {'; '.join(found)} (run 'drill up' or 'drill heal' first)")


def start_manifest(settings: Settings, run_id: str, args: argparse.Namespace) -> RunManifest:
    from waqiti_drill.platform.factory import open_platform
    from waqiti_drill.suite.manifest import component_versions, operator, settings_sha256

    platform = open_platform(settings)
    return RunManifest(run_id=run_id, started_at=utc_iso(datetime.now(UTC).timestamp()) or "", finished_at=None,
                       operator=operator(), platform=platform.name, command=["drill", *sys.argv[1:]],
                       tags=args.tags, components=component_versions(platform),
                       config_sha256=settings_sha256(settings),
                       targets=Targets(settings.targets.rto_seconds, settings.targets.rpo_seconds),
                       timeout_multiplier=timeout_multiplier())


def _run_pytest(argv: list[str], env: dict[str, str], run_dir: Path) -> int:
    """pytest's output goes to the terminal as it comes and to <run>/pytest.log."""
    with open(run_dir / "pytest.log", "w") as log:
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1)
        assert proc.stdout is not None
        try:
            _tee(proc.stdout, log)
        except KeyboardInterrupt:
            # pytest got the Ctrl-C too and tears the scenario down, which heals: keep reading its output
            # (a closed pipe would break the heal) until it exits, then report the interruption.
            print("drill run: interrupted; waiting for the scenario in progress to heal", file=sys.stderr)
            _tee(proc.stdout, log)
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
