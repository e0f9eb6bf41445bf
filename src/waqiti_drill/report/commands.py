"""CLI wiring of `drill report` and `drill evidence verify` (registered from cli.py).

Neither talks to a server. `report` reads the stack's secrets.json only to know what to scan for, and
says so when it cannot; matplotlib is imported only when a report is built, so `drill --help` stays fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from waqiti_drill.config import Settings
from waqiti_drill.errors import EvidenceTampered, InvalidConfig


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    reports_dir = Path(args.reports_dir)
    if args.trend:
        from waqiti_drill.report.trend import write_trend

        if args.run:
            raise InvalidConfig("--trend compares every run under --reports-dir; give no run id with it")
        last = args.last if args.last is not None else 10
        if last < 1:
            raise InvalidConfig(f"--last must be a whole number >= 1, got {args.last}")
        import shutil

        width = min(100, max(80, shutil.get_terminal_size((100, 24)).columns))  # 80-100: the table's range
        text, png, data = write_trend(reports_dir, last, width)
        print(text)
        print(f"trend: {png}  {png.with_suffix('.html')}  {data}")
        return 0
    if not args.run:
        raise InvalidConfig("give a run id or run directory (or --trend)")
    from waqiti_drill.report.model import resolve_run_dir

    for line in build_evidence(settings, resolve_run_dir(args.run, reports_dir), args.key):
        print(line)
    return 0


def build_evidence(settings: Settings, run_dir: Path, key_arg: str | None = None) -> list[str]:
    """Build and sign <run>/evidence/ (what `drill report` and the end of `drill run` do); what was done."""
    from waqiti_drill.report.build import build
    from waqiti_drill.report.manifest import default_key_path
    from waqiti_drill.report.redact import known_secrets

    secrets, source = known_secrets(settings.state_dir)
    key = Path(key_arg).expanduser() if key_arg else default_key_path()
    built = build(run_dir, key, secrets)
    evidence = run_dir / "evidence"
    size = (evidence / "report.html").stat().st_size
    return [f"evidence: {evidence}/report.html ({size / 1024:.0f} KiB, self-contained) and report.json, "
            f"{built.plots} plot(s)",
            built.allure_line,
            f"secrets scan: no hit for {built.secrets_scanned} secret(s) ({source})",
            f"signed: {built.signed_files} file(s) in {evidence}/MANIFEST.json, signature MANIFEST.sig, key {key} "
            f"(built in {built.seconds:.1f}s)"]


def cmd_evidence(settings: Settings, args: argparse.Namespace) -> int:
    from waqiti_drill.report.manifest import verify_run

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise InvalidConfig(f"{run_dir}: no such run directory")
    result = verify_run(run_dir, Path(args.public_key) if args.public_key else None)
    problems = result.problems
    for line in problems:
        print(line)
    if problems:
        raise EvidenceTampered(f"{run_dir}: {len(problems)} problem(s) against the signed manifest: "
                               + "; ".join(problems))
    print(f"intact: {result.files} file(s) match {run_dir}/evidence/MANIFEST.json, signature good "
          f"(key {result.fingerprint})")
    return 0


def register(sub: argparse._SubParsersAction, commands: dict[str, Callable[[Settings, argparse.Namespace], int]]
             ) -> None:
    report = sub.add_parser("report", help="rebuild a run's signed evidence report from its raw data (or --trend)")
    report.add_argument("run", nargs="?", help="a run id under --reports-dir, or a run directory")
    report.add_argument("--reports-dir", default="reports", help="where runs are (default: reports)")
    report.add_argument("--trend", action="store_true", help="RTO and RPO per scenario across past runs")
    report.add_argument("--last", type=int, metavar="N", help="with --trend: the newest N runs (default 10)")
    report.add_argument("--key", help="Ed25519 signing key, generated on first use (env DRILL_SIGNING_KEY; "
                        "default ~/.config/waqiti-drill/signing_key.pem)")
    evidence = sub.add_parser("evidence", help="check a run's evidence")
    actions = evidence.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="exit 0 when the run matches its signed manifest")
    verify.add_argument("run_dir", help="the run directory")
    verify.add_argument("--public-key", help="verify against this public key instead of the one in the run")
    commands["report"] = cmd_report
    commands["evidence"] = cmd_evidence
