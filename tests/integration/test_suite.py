"""`drill run` against the session's real stack: the @nightly set end to end, and a drill that misses its
bound, which must fail, say why, and still heal. The stack is shared with the other integration tests, so
each test leaves it healthy (asserted)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tests.featurecount import scenarios_tagged
from waqiti_drill.faults import health
from waqiti_drill.results import read_manifest, read_results

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def scenario(results, fragment: str):
    found = [r for r in results if fragment in r.scenario]
    assert len(found) == 1, [r.scenario for r in results]
    return found[0]


def assert_scenario_files(run_dir: Path, record) -> None:
    d = run_dir / record.paths.dir
    assert (d / "roles.jsonl").is_file() and (run_dir / record.paths.check).is_file()
    samples = [json.loads(line) for line in (d / "roles.jsonl").read_text().splitlines()]
    assert len(samples) >= 10 and all(set(s["members"]) == {"pg1", "pg2", "pg3"} for s in samples)
    assert {"primary", "sync_standby", "replica"} <= set(samples[0]["members"].values())
    for name in ("faults.jsonl", "final.jsonl"):
        assert (d / "history" / name).is_file()
    assert list((d / "history").glob("ops-*.jsonl")) and (run_dir / record.paths.locust_stats).is_file()


def test_nightly_runs_and_reports_real_figures(stack, tmp_path):
    started = time.monotonic()
    result = stack.drill("run", "--tags", "nightly", "--reports-dir", str(tmp_path), "--run-id", "nightly",
                         timeout=1200)
    took = time.monotonic() - started
    print(f"\n@nightly took {took:.0f}s\n{result.stdout[-3000:]}")
    run_dir = tmp_path / "nightly"
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    results = read_results(run_dir)
    # Without a terminal: one timestamped line per phase, each scenario started and ended, pytest's output
    # in pytest.log; a JUnit testcase per scenario, named by feature and scenario.
    nightly = scenarios_tagged("nightly")
    assert f"{nightly} scenario(s) selected" in result.stdout
    assert all(f"[{n}/{nightly}] start: " in result.stdout for n in range(1, nightly + 1)), result.stdout[:3000]
    assert result.stdout.count("] passed in ") == nightly
    assert re.search(rf"\[\d+/{nightly}\] fault: kill_member on pg", result.stdout)
    assert "collected" not in result.stdout and "collected" in (run_dir / "pytest.log").read_text()
    junit = (run_dir / "junit.xml").read_text()
    assert junit.count("<testcase ") == nightly and 'classname="PostgreSQL failover under steady ledger load"' in junit
    assert all(r.status == "passed" for r in results), [(r.scenario, r.deviations) for r in results]
    deployment = [r for r in results if "deployment" in r.tags]
    assert len(deployment) == 6 and all(r.rto_seconds is None and not r.deviations for r in deployment)

    crash = scenario(results, "[killed]")
    assert crash.fault.name == "kill_member" and crash.fault.injected_at
    assert 0 < crash.rto_seconds < 900 and crash.rpo_seconds == 0
    assert crash.lost_writes == 0 and crash.acked_writes > 100
    t = crash.timeline
    assert t.fault_injected <= t.failure_detected < t.writable_again < t.data_validated
    assert_scenario_files(run_dir, crash)

    down = scenario(results, "killed and held down")  # features/monitoring.feature's @nightly drill
    assert [(d.alert, d.verdict) for d in down.detections] == [("PostgresInstanceDown", "detected")], down.detections
    assert down.timeline.alert_firing and down.timeline.alert_notified and down.timeline.healthy
    clean = scenario(results, "No alert fires")
    assert clean.monitoring is not None and clean.monitoring.fired == [] and clean.monitoring.false_positives == []

    redis = scenario(results, "A master is killed")
    assert redis.fault.name == "kill_redis_master" and 0 < redis.rto_seconds < 900 and redis.lost_writes == 0
    assert any(k.startswith("redis shard") and k.endswith("rto_seconds") for k in redis.measurements)

    restore = scenario(results, "newest backup restores into a separate target")
    assert restore.backups and restore.measurements["restored_transfers"] > 0
    assert restore.measurements["acknowledged_before_backup"] > 0

    site = scenario(results, "rebuilt from the object store alone")
    assert site.fault.name == "destroy_postgres_cluster" and site.backups
    assert 0 < site.rto_seconds <= 900 and 0 <= site.rpo_seconds <= 3600 and site.acked_writes > 100

    assert (run_dir / "evidence" / "report.html").is_file(), "drill run builds the signed evidence report"
    verify = stack.drill("evidence", "verify", str(run_dir))
    assert verify.returncode == 0, verify.stdout + verify.stderr

    manifest = read_manifest(run_dir)
    assert manifest.tags == "nightly" and manifest.platform == "local" and manifest.finished_at
    assert set(manifest.components) == {"postgres", "patroni", "etcd", "redis", "pgbackrest", "haproxy", "weed"}
    assert all(v[0].isdigit() for v in manifest.components.values()), manifest.components
    assert list((run_dir / "allure-results").glob("*-result.json"))
    secrets = json.loads((stack.state_dir / "secrets.json").read_text())
    written = "".join(p.read_text(errors="replace") for p in run_dir.rglob("*.json*"))
    assert not [k for k, v in secrets.items() if isinstance(v, str) and len(v) >= 8 and v in written]
    assert health.problems(stack.platform()) == []


MISSED_BOUND = """@quarterly @destructive
Feature: A drill that misses its bound
  Scenario: The primary is killed and must be back within one second
    Given the platform is healthy
    And the ledger load "steady" is running
    When the PostgreSQL primary is killed
    Then the measured RTO is at most 1 seconds
"""


def test_a_drill_that_misses_its_bound_fails_says_why_and_heals(stack, tmp_path):
    feature = tmp_path / "bound.feature"
    feature.write_text(MISSED_BOUND)
    result = stack.drill("run", str(feature), "--reports-dir", str(tmp_path), "--run-id", "bound", timeout=900)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr
    assert re.search(r"\[1/1\] failed in (\d+ s|\d+m\d+s): .*; failed step: Then the measured RTO is at most 1 seconds",
                     result.stdout), result.stdout
    assert "<failure" in (tmp_path / "bound" / "junit.xml").read_text()
    [record] = read_results(tmp_path / "bound")
    assert record.status == "failed"
    assert record.rto_seconds is not None and record.rto_seconds > 1  # measured after the heal, and reported
    assert any("the measured RTO is at most 1 seconds (line 7)" in d for d in record.deviations), record.deviations
    assert health.problems(stack.platform()) == []


def test_resharding_drills_add_a_master_and_leave_the_spec_s_six_nodes(stack, tmp_path):
    """@redis_reshard: slots moved and rebalanced, and a 7th node added as a master (an 8th as its replica)
    under load; the heal moves the slots back and removes both, so the cluster is six nodes again."""
    result = stack.drill("run", "--tags", "redis_reshard", "--reports-dir", str(tmp_path), "--run-id", "reshard",
                         timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    results = read_results(tmp_path / "reshard")
    added = scenario(results, "A master is added")
    assert added.status == "passed" and added.lost_writes == 0 and added.acked_writes > 100
    assert added.fault.name == "add_redis_master" and added.measurements["added_master"]
    nodes = stack.platform().redis_nodes()
    assert len(nodes) == 6 and added.measurements["added_master"] not in {n.address for n in nodes}
    assert health.problems(stack.platform()) == []
