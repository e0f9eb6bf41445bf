"""The repository's alert rules: promtool's own check and unit tests, and the spec's windows as data."""

import shutil
import subprocess
from pathlib import Path

import pytest

from waqiti_drill.config import DEFAULT_RULES_FILE
from waqiti_drill.errors import InvalidConfig
from waqiti_drill.monitoring.rules import check_rules, load_rules, parse_duration

RULES_DIR = DEFAULT_RULES_FILE.parent
PROMTOOL = shutil.which("promtool") or "promtool"

# The spec's Critical Alerts and their windows, and the additions the issue names.
SPEC_WINDOWS = {
    "PostgresInstanceDown": 60, "PostgresReplicationLag": 120, "PostgresDiskSpace": 300, "BackupFailed": 0,
    "PostgresConnectionPoolExhaustion": 300,
}
ADDED = {"PostgresWalArchivingFailing": 60, "RedisNodeDown": 60, "RedisClusterStateNotOk": 60,
         "PostgresFailedLogins": 0}


def promtool_test(rules_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, "test", "rules", "alerts.test.yml"], cwd=rules_dir, capture_output=True,
                          text=True, timeout=120)


def test_promtool_checks_the_rules_file():
    proc = subprocess.run([PROMTOOL, "check", "rules", str(DEFAULT_RULES_FILE)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 9 rules found" in proc.stdout


def test_promtool_unit_tests_pass_each_alert_fires_at_its_boundary_and_resolves():
    proc = promtool_test(RULES_DIR)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(("alert", "wrong"), [("PostgresInstanceDown", "55s"), ("PostgresDiskSpace", "4m"),
                                              ("PostgresReplicationLag", "2m5s")])
def test_the_unit_tests_catch_a_wrong_window(tmp_path: Path, alert: str, wrong: str):
    """A window moved by one evaluation makes promtool's tests fail: they pin the boundary, not just 'fires'."""
    shutil.copy(RULES_DIR / "alerts.test.yml", tmp_path)
    text = DEFAULT_RULES_FILE.read_text()
    start = text.index(f"- alert: {alert}")
    for_at = text.index("for: ", start)
    end = text.index("\n", for_at)
    (tmp_path / "alerts.rules.yml").write_text(text[:for_at] + f"for: {wrong}" + text[end:])
    proc = promtool_test(tmp_path)
    assert proc.returncode != 0
    assert f"alertname: {alert}" in proc.stdout + proc.stderr


def test_every_spec_alert_is_there_with_the_spec_window():
    rules = {r.name: r for r in load_rules(DEFAULT_RULES_FILE)}
    for name, seconds in {**SPEC_WINDOWS, **ADDED}.items():
        assert rules[name].for_seconds == seconds, name
        assert rules[name].severity == "critical", name
        assert rules[name].labels.get("spec"), name
    assert set(rules) == set(SPEC_WINDOWS) | set(ADDED)
    assert rules["PostgresReplicationLag"].expr.endswith("> 30")
    assert rules["PostgresDiskSpace"].expr.endswith("> 85")


def test_durations():
    assert parse_duration("1m") == 60 and parse_duration("0s") == 0 and parse_duration("1m30s") == 90
    assert parse_duration("500ms") == 0.5 and parse_duration("2h") == 7200
    for bad in ("", "1 m", "m", "-1m", "1.5m"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(text)
    return path


def test_a_rules_file_that_is_not_yaml_is_one_line_with_its_line(tmp_path: Path):
    path = write(tmp_path, "groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: [unclosed\n")
    with pytest.raises(InvalidConfig) as err:
        load_rules(path)
    assert str(err.value).startswith(f"{path}:") and "not valid YAML" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_file_without_groups_or_with_a_bad_rule(tmp_path: Path):
    with pytest.raises(InvalidConfig, match="no 'groups' list"):
        load_rules(write(tmp_path, "rules: []\n"))
    with pytest.raises(InvalidConfig, match=r":4: alert A has no 'expr'"):
        load_rules(write(tmp_path, "groups:\n  - name: g\n    rules:\n      - alert: A\n        for: 1m\n"))
    with pytest.raises(InvalidConfig, match=r":6: alert A: not a Prometheus duration"):
        load_rules(write(tmp_path, "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up\n"
                                   "      - alert: A\n        expr: up == 0\n        for: soon\n"))
    dup = "groups:\n  - name: g\n    rules:\n" + "      - alert: A\n        expr: up == 0\n" * 2
    with pytest.raises(InvalidConfig, match="defined more than once"):
        load_rules(write(tmp_path, dup))
    with pytest.raises(InvalidConfig, match="cannot read"):
        load_rules(tmp_path / "missing.yml")


def test_promql_that_promtool_rejects_is_one_line(tmp_path: Path):
    path = write(tmp_path, "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up ==== 0\n")
    with pytest.raises(InvalidConfig) as err:
        check_rules(path)
    message = str(err.value)
    assert message.startswith(f"{path}: promtool rejects the rules:") and "\n" not in message
    assert "parse error" in message
