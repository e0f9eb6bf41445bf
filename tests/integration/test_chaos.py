"""Faults through chaostoolkit against the real stack: every scenario runs, rolls back and leaves the
platform healthy; a drill killed mid-freeze is healed by `drill heal`; the safety control refuses to
start a second drill or a drill against an unhealthy platform."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.stackutil import DRILL
from waqiti_drill.faults import health
from waqiti_drill.faults.ledger import FaultLedger
from waqiti_drill.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
RUNNABLE_HERE = ["primary_freeze", "primary_crash", "sync_standby_loss", "switchover", "redis_master_failover",
                 "dcs_outage", "primary_isolation", "redis_reshard",
                 "backup_object_store_outage", "disk_full", "site_loss", "redis_scale_out"]


def _stopped_processes(platform) -> list[str]:
    return platform.supervisor.stopped_under(platform.settings.state_dir)


@pytest.mark.parametrize("name", RUNNABLE_HERE)
def test_each_scenario_runs_rolls_back_and_leaves_the_platform_healthy(stack, tmp_path, name):
    result = stack.drill("chaos", str(SCENARIOS / f"{name}.yaml"), "--run-dir", str(tmp_path), timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["status"] == "completed" and not journal["deviated"]
    assert all(r["status"] == "succeeded" for r in journal["run"] + journal["rollbacks"])
    junit = (tmp_path / "junit.xml").read_text()  # for CI: one testcase, the experiment, not failed
    assert f'classname="chaos" name="{name}"' in junit and "<failure" not in junit
    faults = [json.loads(line) for line in (tmp_path / "history" / "faults.jsonl").read_text().splitlines()]
    assert any(f["phase"] == "inject" for f in faults), "the fault instant is recorded into the run"
    platform = stack.platform()
    assert health.problems(platform) == []
    assert FaultLedger(stack.state_dir).active() == []
    assert _stopped_processes(platform) == []


def _freeze_experiment(tmp_path: Path, seconds: int) -> Path:
    doc = json.loads(json.dumps({
        "version": "1.0.0", "title": "long freeze", "description": "a primary frozen for a long time",
        "method": [{"type": "action", "name": "freeze", "provider": {
            "type": "python", "module": "waqiti_drill.faults.actions", "func": "freeze_member",
            "arguments": {"member": "primary", "seconds": seconds}}}],
        "rollbacks": [{"type": "action", "name": "heal", "provider": {
            "type": "python", "module": "waqiti_drill.faults.actions", "func": "heal"}}],
    }))
    path = tmp_path / "long_freeze.json"
    path.write_text(json.dumps(doc))
    return path


def test_a_drill_killed_mid_freeze_is_healed_by_drill_heal_and_holds_off_a_second_drill(stack, tmp_path):
    platform = stack.platform()
    run_dir = tmp_path / "killed"
    first = subprocess.Popen([*DRILL, "chaos", str(_freeze_experiment(tmp_path, 120)), "--run-dir", str(run_dir)],
                             env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        faults = run_dir / "history" / "faults.jsonl"
        wait_until(lambda: (faults.exists(), "no fault record yet"), 60, "the freeze to take effect")

        second = stack.drill("chaos", str(SCENARIOS / "primary_crash.yaml"), "--run-dir", str(tmp_path / "second"))
        assert second.returncode == 11, second.stdout + second.stderr  # refused at once, naming the run
        assert "another drill is in progress on this stack: run killed (pid" in second.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()

    assert [f.kind for f in FaultLedger(stack.state_dir).active()] == ["freeze_member"]
    assert _stopped_processes(platform), "SIGKILL of the drill left the primary frozen"
    started = time.monotonic()
    heal = stack.drill("heal", timeout=600)
    assert heal.returncode == 0, heal.stderr
    assert "undone: freeze_member" in heal.stdout
    assert time.monotonic() - started < 300
    assert _stopped_processes(platform) == []
    assert FaultLedger(stack.state_dir).active() == []
    members = platform.postgres_members()
    assert sorted(m.role for m in members if m.state in ("running", "streaming")).count("primary") == 1
    assert sum(1 for m in members if m.state == "streaming") == 2


def test_a_drill_refuses_to_start_against_an_unhealthy_platform(stack, tmp_path):
    platform = stack.platform()
    replica = next(m.name for m in platform.postgres_members() if m.role == "replica")
    platform.stop_member(replica)
    try:
        result = stack.drill("chaos", str(SCENARIOS / "primary_crash.yaml"), "--run-dir", str(tmp_path))
        assert result.returncode != 0
        assert "not healthy" in result.stdout + result.stderr
        assert FaultLedger(stack.state_dir).active() == []
        still = {m.name: m.state for m in platform.postgres_members()}
        assert still[replica] != "streaming", "a refused drill must not touch the platform, not even to heal it"
    finally:
        platform.start_member(replica)
        health.wait_healthy(platform, 120)


def test_freezing_a_redis_master_for_two_seconds_thaws_it_and_leaves_no_ledger_entry(stack, tmp_path):
    from waqiti_drill.faults import actions

    configuration = {"drill_state_dir": str(stack.state_dir), "drill_config": str(stack.config),
                     "drill_run_dir": str(tmp_path)}
    started = time.monotonic()
    done = actions.freeze_redis_node(seconds=2, configuration=configuration)
    assert 2.0 <= time.monotonic() - started < 10
    assert done["fault"] == "freeze_redis_node" and done["seconds"] == 2
    faults = [json.loads(line) for line in (tmp_path / "history" / "faults.jsonl").read_text().splitlines()]
    assert [f["phase"] for f in faults] == ["inject", "heal"]
    assert faults[1]["mono"] - faults[0]["mono"] == pytest.approx(2.0, abs=0.2)
    platform = stack.platform()
    assert FaultLedger(stack.state_dir).active() == []
    assert _stopped_processes(platform) == []
    health.wait_healthy(platform, 60)
