"""The monitoring drills on the session's real stack: each of the spec's critical alerts raised by its real
condition, within its budget, then healed and resolved, with no false positive. The @nightly ones (the clean
run, a member killed and held down) run with the nightly set in test_suite.py; this runs the others, whose
windows are 2-5 minutes of real time (measured, not shortened)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from waqiti_drill.faults import health
from waqiti_drill.results import read_results

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FEATURE = Path(__file__).resolve().parents[2] / "features" / "monitoring.feature"
EXPECTED = {"PostgresReplicationLag", "PostgresDiskSpace", "BackupFailed", "PostgresConnectionPoolExhaustion",
            "PostgresWalArchivingFailing"}


def test_the_spec_alerts_fire_within_their_budgets_and_resolve(stack, tmp_path):
    started = time.monotonic()
    result = stack.drill("run", str(FEATURE), "--tags", "spec_alert and not nightly", "--reports-dir", str(tmp_path),
                         "--run-id", "monitoring", timeout=2700)
    took = time.monotonic() - started
    run_dir = tmp_path / "monitoring"
    results = read_results(run_dir)
    print(f"\nmonitoring drills took {took:.0f}s")
    for r in results:
        for d in r.detections:
            print(f"  {d.alert:34} {d.verdict:13} pending {d.pending_seconds}s firing {d.firing_seconds}s "
                  f"notified {d.notified_seconds}s budget {d.budget_seconds:g}s resolved {d.resolved_seconds}s "
                  f"(scenario {r.duration_seconds:.0f}s)")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    assert all(r.status == "passed" for r in results), [(r.scenario, r.deviations) for r in results]
    detected = {d.alert: d for r in results for d in r.detections}
    assert set(detected) >= EXPECTED, sorted(detected)
    for name in EXPECTED:
        d = detected[name]
        assert d.verdict == "detected" and d.notified_seconds <= d.budget_seconds, d
        assert d.firing_seconds >= d.window_seconds + d.lead_seconds  # not before its window: the rule's own `for`
        assert d.resolved_at is not None, f"{name} resolved"
    assert all(r.monitoring is not None and not r.monitoring.false_positives for r in results)
    doc = json.loads((run_dir / "evidence" / "report.json").read_text())
    assert {row["alert"] for row in doc["detection"]["rows"]} >= EXPECTED
    assert any("alerts" in s["plots"] for s in doc["scenarios"])
    assert health.problems(stack.platform()) == []
    platform = stack.platform()
    assert platform.replay_paused() == [] and platform.connections_held() == [] and platform.disk_faults() == []
