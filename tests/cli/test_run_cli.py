"""`drill run` with bad input: one line naming the file (and line), exit 2, no traceback, no stack needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.cliutil import assert_one_line_error

DRILL = [sys.executable, "-m", "waqiti_drill.cli"]
GOOD = """Feature: a drill
  Scenario: healthy
    Given the platform is healthy
"""


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DRILL_STATE_DIR=str(tmp_path / "no-stack"))
    env.pop("DRILL_CONFIG", None)
    return subprocess.run([*DRILL, "run", "--reports-dir", str(tmp_path / "reports"), *args], env=env,
                          capture_output=True, text=True, timeout=120)


def feature(tmp_path: Path, text: str, name: str = "x.feature") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_malformed_feature_names_file_and_line(tmp_path):
    path = feature(tmp_path, "Feature: broken\n  Scenario: one\n    Given the platform is healthy\n  Bogus line here\n")
    result = run(tmp_path, str(path))
    assert_one_line_error(result, 2, f"{path}:4:", "malformed feature")


def test_file_without_feature_keyword(tmp_path):
    path = feature(tmp_path, "just some text\n")
    assert_one_line_error(run(tmp_path, str(path)), 2, f"{path}:1:", "malformed feature")


def test_feature_without_scenarios(tmp_path):
    path = feature(tmp_path, "Feature: nothing to run\n  Just a description.\n")
    assert_one_line_error(run(tmp_path, str(path)), 2, f"{path}:1:", "no scenarios")


def test_step_of_the_wrong_kind_is_unknown(tmp_path):
    path = feature(tmp_path, "Feature: a drill\n  Scenario: x\n    When the platform is healthy\n")
    assert_one_line_error(run(tmp_path, str(path)), 2, f"{path}:3:", "'When the platform is healthy'")


def test_unknown_step_names_file_and_line(tmp_path):
    path = feature(tmp_path, GOOD + "    When the moon is blue\n")
    result = run(tmp_path, str(path))
    assert_one_line_error(result, 2, f"{path}:4:", "no step definition matches 'When the moon is blue'")


def test_unknown_tag_in_feature_names_file_and_line(tmp_path):
    path = feature(tmp_path, "@nightly @nigthly\n" + GOOD)
    assert_one_line_error(run(tmp_path, str(path)), 2, f"{path}:1:", "unknown tag @nigthly")


@pytest.mark.parametrize(("expr", "fragment"), [
    ("nigthly", "unknown tag(s) nigthly"),
    ("nightly and", "expected a tag, 'not' or '(', found the end"),
    ("(nightly or quarterly", "expected ')'"),
    ("nightly quarterly", "unexpected 'quarterly'"),
    ("nightly & slow", "unexpected character '&'"),
])
def test_bad_tag_expression(tmp_path, expr, fragment):
    path = feature(tmp_path, GOOD)
    assert_one_line_error(run(tmp_path, str(path), "--tags", expr), 2, "--tags", fragment)


def test_missing_path(tmp_path):
    assert_one_line_error(run(tmp_path, str(tmp_path / "nope.feature")), 2, "nope.feature", "no such feature file")


def test_not_a_feature_file(tmp_path):
    path = feature(tmp_path, GOOD, "x.txt")
    assert_one_line_error(run(tmp_path, str(path)), 2, "x.txt", "not a .feature file")


def test_shipped_features_parse_and_every_step_has_a_definition(tmp_path):
    """The real features/ pass the same checks; the run then refuses the missing stack before any scenario."""
    result = run(tmp_path)
    assert "no step definition" not in result.stderr and "malformed" not in result.stderr, result.stderr
    assert_one_line_error(result, 7, "the target is not healthy", "no stack in")


def test_an_alert_the_rules_lack_is_one_line_before_anything_runs(tmp_path):
    path = feature(tmp_path, 'Feature: monitoring\n  Scenario: one\n    Given the platform is healthy\n'
                             '    Then the alert "PostgresInstanceDwn" is notified within its budget\n')
    result = run(tmp_path, str(path))
    assert_one_line_error(result, 2, f"{path}:4:", "alert 'PostgresInstanceDwn' is not in the rules file")
    assert "PostgresInstanceDown" in result.stderr  # the ones it has are listed


def test_a_rules_file_that_does_not_parse_is_one_line_before_anything_runs(tmp_path):
    rules = tmp_path / "broken.rules.yml"
    rules.write_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up ==== 0\n")
    config = tmp_path / "drill.toml"
    config.write_text(f'[monitoring]\nrules_file = "{rules}"\n')
    path = feature(tmp_path, GOOD)
    env = dict(os.environ, DRILL_STATE_DIR=str(tmp_path / "no-stack"), DRILL_CONFIG=str(config))
    argv = [*DRILL, "run", "--reports-dir", str(tmp_path / "reports"), str(path)]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert_one_line_error(result, 2, f"{rules}: promtool rejects the rules:")
    rules.write_text("groups:\n  - name: g\n    rules: [\n")
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert_one_line_error(result, 2, f"{rules}:", "not valid YAML")


@pytest.mark.parametrize("ticket", ["", "CHG-1\nrm -rf /", "x" * 201])
def test_a_bad_ticket_is_refused(tmp_path, ticket):
    path = feature(tmp_path, GOOD)
    assert_one_line_error(run(tmp_path, str(path), "--ticket", ticket), 2, "--ticket must be one printable line")


def test_plan_lists_what_would_run_and_writes_nothing(tmp_path):
    """No stack, no reports directory: the plan still says what would run, and that a run would be refused."""
    path = feature(tmp_path, """@destructive
Feature: a drill
  Scenario: the primary is killed
    Given the platform is healthy
    And the ledger load "steady" is running
    When the PostgreSQL primary is killed
    Then writes resume within 900 seconds

  @deployment
  Scenario: only checks
    Given the platform is healthy
""")
    result = run(tmp_path, str(path), "--plan")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "2 scenario(s) would run" in out and "nothing was started" in out
    assert "1. x: the primary is killed [never run before]" in out
    assert "fault: When the PostgreSQL primary is killed" in out and "fault: none (checks only)" in out
    assert "DR targets: RTO 900 s, RPO 3600 s" in out and "a run would be refused (exit 7)" in out
    assert max(len(line) for line in out.splitlines()) <= 100
    assert not (tmp_path / "reports").exists() and not (tmp_path / "no-stack").exists()


def test_plan_uses_earlier_runs_for_the_expected_duration(tmp_path):
    from tests.rundirs import manifest
    from waqiti_drill.results import FaultInfo, ScenarioResult, Targets, write_manifest, write_results

    path = feature(tmp_path, "Feature: a drill\n  Scenario: healthy\n    Given the platform is healthy\n")
    for i, seconds in enumerate((40.0, 50.0, 60.0)):
        earlier = tmp_path / "reports" / f"r{i}"
        earlier.mkdir(parents=True)
        write_results(earlier, [ScenarioResult(feature="a drill", scenario="healthy", tags=[], status="passed",
                                               targets=Targets(900, 3600), duration_seconds=seconds,
                                               fault=FaultInfo("kill_member", "pg2", None))])
        write_manifest(earlier, manifest(f"r{i}", f"2025-11-0{i + 1}T00:00:00.000Z"))
    before = sorted(p.name for p in (tmp_path / "reports").iterdir())
    out = run(tmp_path, str(path), "--plan").stdout
    assert "1. x: healthy [~50 s]" in out and "last run recorded: kill_member on pg2" in out
    assert "expected duration: ~50 s (median of the last runs; 3 run(s) read)" in out
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == before


def test_help_lists_every_exit_code_and_the_readme_too():
    from waqiti_drill.errors import exit_codes

    top = subprocess.run([*DRILL, "--help"], capture_output=True, text=True, timeout=60).stdout
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for code in exit_codes():
        assert f"\n  {code:>3}  " in top, code
        assert f"| {code} |" in readme, f"README's exit code table lacks {code}"
    sub = subprocess.run([*DRILL, "run", "--help"], capture_output=True, text=True, timeout=60).stdout
    assert "exit codes of drill run" in sub and "--plan" in sub and "--ticket" in sub
