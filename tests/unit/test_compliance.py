"""The compliance mapping claims exactly what each kind of scenario evidences."""

from __future__ import annotations

import pytest

from waqiti_drill.report.compliance import compliance_section, controls_for, uncovered
from waqiti_drill.results import ScenarioResult, Targets


def scenario(feature: str, tags: list[str], status: str = "passed", name: str = "s") -> ScenarioResult:
    return ScenarioResult(feature=feature, scenario=name, tags=tags, status=status, targets=Targets(900, 3600))


@pytest.mark.parametrize(("feature", "tags", "expected"), [
    ("failover", ["primary_crash"], ["PCI-DSS 12.10.2", "SOC 2 A1.3", "ISO 22301 §8.5"]),
    ("disaster_recovery", ["site_loss"], ["PCI-DSS 12.10.2", "SOC 2 A1.3", "ISO 22301 §8.5"]),
    ("redis_resharding", ["redis_master_failover"], ["PCI-DSS 12.10.2", "SOC 2 A1.3", "ISO 22301 §8.5"]),
    ("backup_restore", ["pitr"], ["PCI-DSS 12.10.2", "SOC 2 A1.3"]),
    ("backup_restore", [], ["PCI-DSS 12.10.2", "SOC 2 A1.3"]),
    ("deployment", [], ["PCI-DSS 2.2"]),
    ("redis_resharding", ["redis_reshard"], []),
])
def test_each_kind_of_scenario_maps_to_its_controls_only(feature, tags, expected):
    assert [c.id for c, _ in controls_for(scenario(feature, tags))] == expected


def test_backup_scenarios_claim_backup_integrity_and_deployment_claims_conformance_only():
    (_, backup), _ = controls_for(scenario("backup_restore", []))
    assert "backup integrity" in backup
    ((_, conformance),) = controls_for(scenario("deployment", []))
    assert "specification" in conformance and "recovery" not in conformance


def test_skipped_evidences_nothing_failed_is_listed_with_its_status():
    results = [scenario("failover", ["primary_crash"], "failed", "crash"),
               scenario("failover", ["switchover"], "skipped", "switch"),
               scenario("redis_resharding", ["redis_reshard"], name="reshard")]
    section = {c["control"]: c for c in compliance_section(results)}
    pci = section["PCI-DSS 12.10.2"]
    assert [(r["scenario"], r["status"]) for r in pci["scenarios"]] == [("crash", "failed")]
    assert pci["evidenced"] is True and pci["all_passed"] is False
    assert section["PCI-DSS 2.2"]["evidenced"] is False
    assert uncovered(results) == ["reshard"]


@pytest.mark.parametrize(("feature", "kind"), [
    ("features/failover.feature", "recovery"), ("Failover", "recovery"), ("Disaster recovery", "recovery"),
    ("disaster_recovery", "recovery"), ("Backup and restore", "backup"), ("backup_restore.feature", "backup"),
    ("Deployment", "deployment"), ("redis_resharding", "other"),
])
def test_a_feature_is_recognised_by_file_name_or_title(feature, kind):
    from waqiti_drill.report.compliance import feature_kind

    assert feature_kind(feature) == kind
