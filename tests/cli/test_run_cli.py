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
