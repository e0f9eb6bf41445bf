"""Detection in the evidence: the alert timeline plot, the detection table against the budgets, the RTO
decomposed, false positives, and the controls detection evidences; built from a generated run."""

from __future__ import annotations

import json

import pytest

from tests.rundirs import make_run
from waqiti_drill.config import DEFAULT_RULES_FILE, Targets
from waqiti_drill.monitoring.detection import Condition, Intervals, measure
from waqiti_drill.monitoring.rules import load_rules, rules_by_name
from waqiti_drill.platform.base import AlertNotification, AlertSample
from waqiti_drill.report.build import build
from waqiti_drill.results import MonitoringSeen, ScenarioResult, read_results, write_results
from waqiti_drill.suite.records import Observed, build_result
from waqiti_drill.timefmt import utc_iso

PNG = b"\x89PNG\r\n\x1a\n"
T0 = 1_764_093_600.0
RULES = rules_by_name(load_rules(DEFAULT_RULES_FILE))
IV = Intervals(5, 5, 1)
PG2 = {"member": "pg2", "severity": "critical", "job": "postgres"}


@pytest.fixture(autouse=True)
def no_allure_html(monkeypatch):
    monkeypatch.setenv("DRILL_ALLURE", "")


def seen_monitoring(false_positives: list[str] | None = None) -> MonitoringSeen:
    return MonitoringSeen(5.0, 5.0, 1.0, 5.0, "ab" * 32, fired=["PostgresInstanceDown{member=pg2}"],
                          false_positives=false_positives or [], uncovered=["kill_dcs dcs: no exporter watches etcd"])


def monitoring_results() -> list[ScenarioResult]:
    down = measure(Condition("PostgresInstanceDown", {"member": "pg2"}, "kill_member pg2", T0, T0 + 80),
                   RULES["PostgresInstanceDown"], IV,
                   [AlertSample("PostgresInstanceDown", PG2, "pending", T0 + 4.0),
                    AlertSample("PostgresInstanceDown", PG2, "firing", T0 + 64.0)],
                   [AlertNotification("PostgresInstanceDown", PG2, "firing", "", "", T0 + 65.1),
                    AlertNotification("PostgresInstanceDown", PG2, "resolved", "", utc_iso(T0 + 84.0), T0 + 89.0)],
                   now=T0 + 90)
    disk = measure(Condition("PostgresDiskSpace", {"member": "pg3"}, "fill_disk_to pg3", T0, T0 + 320),
                   RULES["PostgresDiskSpace"], IV, [], [], now=T0 + 330)
    observed = Observed(feature="Monitoring", scenario="Member down", tags=["instance_down", "monitoring"],
                        status="passed", targets=Targets(), detections=[down], monitoring=seen_monitoring(),
                        healthy_at=T0 + 82.0)
    quiet = Observed(feature="Monitoring", scenario="Clean run", tags=["monitoring", "steady_state"], status="passed",
                     targets=Targets(), monitoring=seen_monitoring(["BackupFailed{type=incr}"]))
    missed = Observed(feature="Monitoring", scenario="Disk", tags=["disk_space"], status="failed", targets=Targets(),
                      detections=[disk], monitoring=seen_monitoring())
    return [build_result(observed, None), build_result(quiet, None), build_result(missed, None)]


@pytest.fixture
def run_dir(tmp_path):
    run = make_run(tmp_path / "reports")
    write_results(run, read_results(run) + monitoring_results())
    return run


def test_results_carry_the_detection_and_read_back(run_dir):
    results = read_results(run_dir)
    member = results[2]
    assert member.detections[0].verdict == "detected" and member.detections[0].notified_seconds == 65.1
    assert member.timeline.alert_firing == utc_iso(T0 + 64.0) and member.timeline.healthy == utc_iso(T0 + 82.0)
    assert member.timeline.fault_injected == utc_iso(T0)  # no checker ran: the condition's instant
    assert results[3].deviations == ["false positive: BackupFailed{type=incr}"]
    assert results[4].deviations == ["not detected: PostgresDiskSpace after fill_disk_to pg3 (missed, budget 311s)"]


def test_report_has_the_detection_table_the_plot_and_the_decomposition(run_dir, tmp_path):
    build(run_dir, tmp_path / "key.pem", {})
    doc = json.loads((run_dir / "evidence" / "report.json").read_text())
    rows = doc["detection"]["rows"]
    assert [(r["alert"], r["verdict"]) for r in rows] == [("PostgresInstanceDown", "detected"),
                                                          ("PostgresDiskSpace", "missed")]
    assert rows[0]["budget_seconds"] == 71 and rows[0]["margin_seconds"] == 5.9 and rows[0]["resolved_seconds"] == 84
    assert doc["detection"]["false_positives"] == ["Clean run: BackupFailed{type=incr}"]
    assert doc["detection"]["uncovered"] == ["kill_dcs dcs: no exporter watches etcd"]
    member = doc["scenarios"][2]
    assert member["rto_decomposed"] == {"detected": 64.0, "notified": 65.1, "writable_again": None, "healthy": 82.0}
    plot = run_dir / member["plots"]["alerts"]
    assert plot.read_bytes().startswith(PNG)
    page = (run_dir / "evidence" / "report.html").read_text()
    assert "Detection against the alert budgets" in page and "False positives" in page
    assert "detected (alert firing) +64.0 s, notified +65.1 s, writable again —, healthy +82.0 s" in page


def test_detection_evidences_monitoring_controls_and_a_missed_one_is_still_listed(run_dir, tmp_path):
    build(run_dir, tmp_path / "key.pem", {})
    doc = json.loads((run_dir / "evidence" / "report.json").read_text())
    by_control = {c["control"]: [(r["scenario"], r["status"]) for r in c["scenarios"]] for c in doc["compliance"]}
    assert by_control["SOC 2 CC7.2"] == [("Member down", "passed"), ("Clean run", "passed"), ("Disk", "failed")]
    assert by_control["SOC 2 A1.1"] == [("Disk", "failed")]
    assert by_control["PCI-DSS 10.2.1.4"] == []
