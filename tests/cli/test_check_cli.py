"""`drill check`: the verdict as exit status, JSON on request, and one line for a history it cannot read."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.cli.cliutil import assert_one_line_error
from tests.histories import HistoryBuilder

DRILL = [sys.executable, "-m", "waqiti_drill.cli"]


def drill_check(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DRILL_CONFIG", "DRILL_STATE_DIR")}
    return subprocess.run([*DRILL, "--state-dir", str(tmp_path / "state"), "check", *args], env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def kill_of_twelve_seconds(tmp_path):
    """Postgres writes fail for 12 s after a primary kill; nothing is lost."""
    h = HistoryBuilder(tmp_path / "run")
    h.fault("primary_kill", "pg1")
    done = h.steady("transfer", -3, 0)
    for t in range(12):
        h.op("transfer", t + 0.1, t + 0.2, "fail", proc="w2")
    done += h.steady("transfer", 12, 14)
    h.final_transfers([v["tid"] for v in done])
    h.final_done("postgres")
    return h.build()


def test_json_result_and_exit_zero_when_targets_are_met(tmp_path, kill_of_twelve_seconds):
    result = drill_check(tmp_path, str(kill_of_twelve_seconds), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["passed"] is True and data["problems"] == []
    assert data["rto_seconds"] == pytest.approx(12.01, abs=1e-6)
    assert data["targets"] == {"rto_seconds": 900.0, "rpo_seconds": 3600.0}
    assert data["services"]["postgres"]["failed"] == 12


def test_exit_one_and_the_problem_when_a_target_is_missed(tmp_path, kill_of_twelve_seconds):
    result = drill_check(tmp_path, str(kill_of_twelve_seconds), "--rto", "10", "--rpo", "0")
    assert result.returncode == 1, result.stderr
    assert "postgres: RTO 12.0s > target 10s" in result.stdout
    assert "result: FAIL" in result.stdout and result.stderr == ""


def test_mode_and_slow_are_passed_through(tmp_path, kill_of_twelve_seconds):
    result = drill_check(tmp_path, str(kill_of_twelve_seconds), "--json", "--mode", "restore", "--slow", "2.5")
    data = json.loads(result.stdout)
    assert (data["mode"], data["slow_seconds"]) == ("restore", 2.5)


def test_corrupt_history_is_one_line_with_file_and_line(tmp_path, kill_of_twelve_seconds):
    with open(kill_of_twelve_seconds / "w2.jsonl", "a") as fh:
        fh.write('{"kind": "op", "id": \n')
    path = kill_of_twelve_seconds / "w2.jsonl"
    result = drill_check(tmp_path, str(kill_of_twelve_seconds))
    assert_one_line_error(result, 9, f"drill check: error: {path}:{path.read_text().count(chr(10))}: not valid JSON")


def test_history_without_fault_is_refused(tmp_path):
    h = HistoryBuilder(tmp_path / "run")
    h.op("transfer", -1, -0.9)
    result = drill_check(tmp_path, str(h.build()))
    assert_one_line_error(result, 9, "no fault record (kind=fault, phase=inject)")


@pytest.mark.parametrize(("args", "fragment"), [
    (("--rto", "soon"), "--rto must be a non-negative number of seconds, got 'soon'"),
    (("--rpo", "-5"), "--rpo must be a non-negative number of seconds, got '-5'"),
    (("--slow", "0"), "--slow must be a positive number of seconds, got '0'"),
    (("--rto", "inf"), "--rto must be a non-negative number"),
    (("--mode", "sideways"), "--mode must be one of failover, restore, got 'sideways'"),
])
def test_bad_arguments_are_one_line(tmp_path, kill_of_twelve_seconds, args, fragment):
    assert_one_line_error(drill_check(tmp_path, str(kill_of_twelve_seconds), *args), 2, fragment)
