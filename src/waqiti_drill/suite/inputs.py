"""Checks of what `drill run` is given, before pytest runs anything: feature paths, Gherkin, tags, steps.

Each problem is one InvalidConfig naming the file (and line), never a traceback: pytest-bdd's own
parse errors (GherkinParseError and subclasses) are mapped, unknown tags are caught here (pytest would
only warn, or with --strict-markers fail with a collection traceback), and unknown steps are found by a
collect-only preflight of the real step modules (pytest-bdd would only fail them one by one at run time).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from waqiti_drill.errors import InvalidConfig
from waqiti_drill.suite.tags import KNOWN_TAGS

_TAG = re.compile(r"(?<!\S)@([^\s@]+)")
_ALERT = re.compile(r'\balert "([^"]*)"')


def feature_files(paths: list[str], default: Path) -> list[Path]:
    """The .feature files named (directories expanded, sorted); each must exist."""
    found: list[Path] = []
    for raw in paths or [str(default)]:
        path = Path(raw)
        if path.is_dir():
            inside = sorted(path.rglob("*.feature"))
            if not inside:
                raise InvalidConfig(f"{path}: no .feature files in this directory")
            found += inside
        elif path.is_file():
            if path.suffix != ".feature":
                raise InvalidConfig(f"{path}: not a .feature file")
            found.append(path)
        else:
            raise InvalidConfig(f"{path}: no such feature file or directory")
    return [p.resolve() for p in dict.fromkeys(found)]


def check_features(files: list[Path]) -> None:
    """Parse every file with pytest-bdd's own parser and check its tags; the first problem is raised."""
    from pytest_bdd.exceptions import GherkinParseError
    from pytest_bdd.feature import get_feature

    for path in files:
        try:
            parsed = get_feature(str(path.parent), path.name)
        except GherkinParseError as exc:
            raise InvalidConfig(f"{path}:{exc.line}: malformed feature: {exc.message.strip()}") from None
        except UnicodeDecodeError as exc:
            raise InvalidConfig(f"{path}: not UTF-8 text ({exc.reason})") from None
        if not parsed.scenarios:
            raise InvalidConfig(f"{path}:1: the feature has no scenarios")
        check_tags(path)


def check_tags(path: Path) -> None:
    """Every @tag on a tag line must be a registered one (tags become pytest markers)."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip().startswith("@"):
            continue
        for tag in _TAG.findall(line.split("#", 1)[0]):
            if tag not in KNOWN_TAGS:
                raise InvalidConfig(f"{path}:{number}: unknown tag @{tag}; known: "
                                    + ", ".join(f"@{t}" for t in KNOWN_TAGS))


def check_alerts(files: list[Path], rules_path: Path, monitored: bool) -> None:
    """The alert rules parse (promtool, as Prometheus loads them), and every alert a step names is one of them.

    A drill would otherwise run for minutes and then wait for an alert no rule can raise."""
    from waqiti_drill.monitoring.rules import check_rules

    named = [(path, number, alert) for path in files
             for number, line in enumerate(path.read_text().splitlines(), start=1)
             if not line.strip().startswith("#") for alert in _ALERT.findall(line)]
    if not monitored:
        if named:
            path, number, alert = named[0]
            raise InvalidConfig(f"{path}:{number}: the step waits for alert {alert!r}, but monitoring is disabled "
                                "([monitoring] enabled = false)")
        return
    known = {r.name for r in check_rules(rules_path)}
    for path, number, alert in named:
        if alert not in known:
            raise InvalidConfig(f"{path}:{number}: alert {alert!r} is not in the rules file {rules_path} "
                                f"(it has: {', '.join(sorted(known))})")


def preflight(argv: list[str], env: dict[str, str], report: Path, cwd: Path) -> None:
    """Collect every scenario with the real step modules and list steps no definition matches."""
    out = subprocess.run([*argv, "--collect-only", "-q", f"--drill-preflight={report}"], env=env, cwd=cwd,
                         capture_output=True, text=True, timeout=300)
    if not report.is_file():
        raise InvalidConfig(f"the scenarios could not be collected: {_last_error(out.stdout + out.stderr)}")
    problems = json.loads(report.read_text())
    report.unlink()
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InvalidConfig(f"{first['file']}:{first['line']}: {first['message']}{more}")


def _last_error(output: str) -> str:
    """The line of pytest's output that says what went wrong (an 'E   ...' or '...Error: ...' line)."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    errors = [ln.lstrip("E ").strip() for ln in lines if ln.startswith("E ") or "Error" in ln]
    return (errors or lines or ["no output"])[-1]
