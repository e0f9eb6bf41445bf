"""Bad input ends in one clear line and a non-zero exit, never a traceback, and starts nothing."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.cli.cliutil import assert_one_line_error

DRILL = [sys.executable, "-m", "waqiti_drill.cli"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DRILL, *args], env=env or dict(os.environ), capture_output=True, text=True, timeout=60)


@pytest.fixture
def state():
    # pytest's tmp_path sits under a 0700 directory the database user cannot enter; use /tmp directly.
    base = Path(tempfile.mkdtemp(prefix="wd-cli-", dir="/tmp"))
    base.chmod(0o755)
    yield base / "state"
    shutil.rmtree(base, ignore_errors=True)


def test_port_in_use_is_named_and_nothing_starts(state, tmp_path):
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        cfg = tmp_path / "drill.toml"
        cfg.write_text(f"[ports]\netcd_client = {port}\n")
        result = run("--state-dir", str(state), "--config", str(cfg), "up")
    assert_one_line_error(result, 4, f"port {port}", "etcd_client", "already in use")
    assert not (state / "run").exists() or not list((state / "run").glob("*.pid"))


def test_foreign_state_directory_is_refused(state):
    state.mkdir()
    (state / "precious.txt").write_text("not ours")
    result = run("--state-dir", str(state), "up")
    assert_one_line_error(result, 5, "not created by waqiti-drill")
    assert [p.name for p in state.iterdir()] == ["precious.txt"]


def test_unreachable_state_directory_is_refused_when_root(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only root switches to the database user")
    result = run("--state-dir", str(tmp_path / "state"), "up")
    assert_one_line_error(result, 5, "not reachable by user 'postgres'")


def test_missing_binary_names_the_package(state):
    env = dict(os.environ, PATH="/nonexistent")
    result = run("--state-dir", str(state), "up", env=env)
    assert_one_line_error(result, 3, "not found: install the Debian package")


def test_bad_config_names_the_file(state, tmp_path):
    cfg = tmp_path / "drill.toml"
    cfg.write_text("[ports]\nredis = [1]\n")
    result = run("--state-dir", str(state), "--config", str(cfg), "up")
    assert_one_line_error(result, 2, str(cfg), "'redis' must be a list of 6 ports")


def test_status_without_a_stack(state):
    result = run("--state-dir", str(state), "status")
    assert_one_line_error(result, 5, "run 'drill up' first")


def test_down_without_a_stack_is_a_no_op(state):
    result = run("--state-dir", str(state), "down")
    assert result.returncode == 0 and "nothing to stop" in result.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--profile", "soak"), "unknown load profile 'soak'; known: steady, ramp, spike, drill"),
        (("--services", "postgres,kafka"), "unknown service(s) ['kafka']"),
        (("--users", "0"), "--users must be a whole number >= 1, got '0'"),
        (("--duration", "-5"), "--duration must be a positive number of seconds"),
    ],
)
def test_bad_load_arguments_are_one_line_errors(state, args, fragment):
    assert_one_line_error(run("--state-dir", str(state), "load", *args), 2, fragment)


def test_heal_refuses_a_ledger_with_an_unknown_kind_in_one_line_naming_it_and_the_file(state):
    ledger = state / "faults" / "active.json"
    ledger.parent.mkdir(parents=True)
    ledger.write_text('[{"id": "ab12", "kind": "teleport_member", "target": "pg1", "injected_at": 1.0, "pid": 1}]')
    result = run("--state-dir", str(state), "heal")
    assert_one_line_error(result, 5, str(ledger), "unknown fault kind 'teleport_member'")
    assert "teleport_member" in ledger.read_text(), "the ledger is left as it was, for the operator"


def test_heal_refuses_a_ledger_that_is_not_a_list(state):
    ledger = state / "faults" / "active.json"
    ledger.parent.mkdir(parents=True)
    ledger.write_text('{"kill_member": "pg1"}')
    assert_one_line_error(run("--state-dir", str(state), "heal"), 5, str(ledger), "not a JSON list of entries")


@pytest.mark.parametrize("bad", ["two", "0", "-1", "nan", "inf", "1e9"])
def test_a_bad_timeout_multiplier_is_refused_before_anything_runs(state, bad):
    env = dict(os.environ, DRILL_TIMEOUT_MULTIPLIER=bad)
    result = run("--state-dir", str(state), "up", env=env)
    assert_one_line_error(result, 2, "DRILL_TIMEOUT_MULTIPLIER must be a number in (0, 100]", repr(bad))
    assert not state.exists(), "nothing was created"
