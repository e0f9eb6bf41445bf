"""A drill stops itself and heals: when the load's error ratio stays above the bound for longer
than allowed (the abort guard), and when the operator presses Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from tests.integration.stackutil import DRILL
from waqiti_drill.faults import health
from waqiti_drill.faults.ledger import FaultLedger
from waqiti_drill.waiting import wait_until
from waqiti_drill.workload.runner import LoadSpec
from waqiti_drill.workload.session import LoadSession

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _experiment(tmp_path, method: list[dict], **configuration: object) -> str:
    doc = {
        "version": "1.0.0", "title": "abort test", "description": "a fault left standing too long",
        "configuration": configuration,
        "method": method,
        "rollbacks": [{"type": "action", "name": "heal", "provider": {
            "type": "python", "module": "waqiti_drill.faults.actions", "func": "heal"}}],
    }
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(doc))
    return str(path)


def _action(name: str, func: str, **arguments: object) -> dict:
    return {"type": "action", "name": name,
            "provider": {"type": "python", "module": "waqiti_drill.faults.actions", "func": func,
                         "arguments": arguments}}


def _assert_healed(stack) -> None:
    platform = stack.platform()
    assert FaultLedger(stack.state_dir).active() == []
    assert platform.supervisor.stopped_under(platform.settings.state_dir) == []
    assert health.problems(platform) == []


def test_the_abort_guard_interrupts_a_drill_whose_errors_last_too_long_and_heals(stack, tmp_path):
    platform = stack.platform()
    experiment = _experiment(tmp_path, [_action("kill-etcd", "kill_dcs"), _action("stand", "observe", seconds=240)],
                             abort_error_ratio=0.5, abort_after_seconds=6)
    with LoadSession(platform, tmp_path, LoadSpec(profile="steady", users=4, services=("postgres",))):
        started = time.monotonic()
        result = stack.drill("chaos", experiment, "--run-dir", str(tmp_path), timeout=600)
        elapsed = time.monotonic() - started
    assert result.returncode != 0, result.stdout
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["status"] in ("interrupted", "aborted"), journal["status"]
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"]
    # The fault stood for 240 s unless the guard cut it short (demotion ~5 s + 6 s above the bound + polling).
    assert elapsed < 200, elapsed
    print(f"abort guard: the drill was interrupted and healed after {elapsed:.1f}s")
    _assert_healed(stack)


def test_ctrl_c_during_a_freeze_still_thaws_and_heals(stack, tmp_path):
    experiment = _experiment(tmp_path, [_action("freeze", "freeze_member", member="primary", seconds=120)])
    proc = subprocess.Popen([*DRILL, "chaos", experiment, "--run-dir", str(tmp_path)], env=stack.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    faults = tmp_path / "history" / "faults.jsonl"
    wait_until(lambda: (faults.exists(), "no fault record yet"), 60, "the freeze to take effect")
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode != 0, out
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["status"] == "interrupted"
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"]
    _assert_healed(stack)
