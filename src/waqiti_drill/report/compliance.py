"""Which controls a scenario evidences, decided by its feature and tags, and stated narrowly.

A scenario is evidence of what it exercised, nothing more: a failover drill shows the recovery plan was
tested, not that the plan is complete; a configuration conformance check shows settings match the spec,
not that the organisation has configuration standards. A skipped scenario evidences nothing; a failed one
still evidences that the test was run (and its deviations say what it found), which is what the
testing controls ask for, so it is listed with its status rather than hidden.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from waqiti_drill.results import ScenarioResult


@dataclass(frozen=True)
class Control:
    id: str
    framework: str
    requirement: str  # a short paraphrase, not the standard's text


PCI_12_10_2 = Control("PCI-DSS 12.10.2", "PCI DSS v4.0",
                      "The incident response plan, including recovery and backup processes, is reviewed and tested "
                      "at least annually.")
SOC2_A1_3 = Control("SOC 2 A1.3", "AICPA Trust Services Criteria (Availability)",
                    "Recovery plan procedures supporting system recovery are tested, including the integrity "
                    "and completeness of backup data.")
ISO_22301_8_5 = Control("ISO 22301 §8.5", "ISO 22301:2019",
                        "Business continuity procedures are exercised against objectives, and each exercise is "
                        "reported with its outcomes and corrective actions.")
PCI_2_2 = Control("PCI-DSS 2.2", "PCI DSS v4.0",
                  "System components are configured and managed securely, to documented configuration "
                  "standards.")
SOC2_CC7_2 = Control("SOC 2 CC7.2", "AICPA Trust Services Criteria (Common Criteria)",
                     "System components are monitored for anomalies indicative of malicious acts, natural disasters "
                     "and errors, and the anomalies are analysed.")
SOC2_A1_1 = Control("SOC 2 A1.1", "AICPA Trust Services Criteria (Availability)",
                    "Current processing capacity and use of system components are monitored and evaluated to manage "
                    "capacity demand.")
PCI_10_2_1_4 = Control("PCI-DSS 10.2.1.4", "PCI DSS v4.0", "Audit logs capture invalid logical access attempts.")
# What the security drills evidence (security/controls.py names, per check, which of these it bears on).
PCI, SOC2 = "PCI DSS v4.0", "AICPA Trust Services Criteria (Common Criteria)"
SECURITY_CONTROLS = (
    Control("PCI-DSS 1.3.1", PCI, "Inbound traffic to the cardholder data environment is restricted to what is "
                                  "necessary; all other traffic is denied."),
    Control("PCI-DSS 3.5.1", PCI, "Stored account data is rendered unreadable wherever it is stored."),
    Control("PCI-DSS 4.2.1", PCI, "Strong cryptography protects account data during transmission."),
    Control("PCI-DSS 7.2.1", PCI, "An access control model defines access by job function, with least privilege."),
    Control("PCI-DSS 7.2.2", PCI, "Access is assigned on least privilege."),
    Control("PCI-DSS 8.3.1", PCI, "All access to system components is authenticated."),
    Control("PCI-DSS 8.3.2", PCI, "Strong cryptography renders authentication factors unreadable in transmission and "
                                  "storage."),
    Control("PCI-DSS 8.3.6", PCI, "Passwords meet a minimum length and complexity."),
    Control("PCI-DSS 10.2.1", PCI, "Audit logs are enabled and active for all system components."),
    Control("PCI-DSS 10.2.2", PCI, "Audit logs record the details of each auditable event."),
    Control("SOC 2 CC6.1", SOC2, "Logical access security and encryption protect information assets."),
    Control("SOC 2 CC6.3", SOC2, "Access is authorised, modified and removed on least privilege."),
    Control("SOC 2 CC6.6", SOC2, "Logical access measures protect against threats from outside the system boundaries."),
    Control("SOC 2 CC6.7", SOC2, "Transmission of information is restricted and protected (encryption in transit)."),
)
CONTROLS = (PCI_12_10_2, SOC2_A1_3, ISO_22301_8_5, PCI_2_2, SOC2_CC7_2, SOC2_A1_1, PCI_10_2_1_4, *SECURITY_CONTROLS)
_BY_ID = {c.id: c for c in CONTROLS}

# What a scenario of each kind evidences, in the words the report uses for it.
RECOVERY = ("a recovery from an injected failure, exercised under client load, with RTO and RPO measured from "
            "the clients' own operations and compared with the targets")
BACKUP = ("a backup or restore procedure exercised for real, with the data restored read back and compared "
          "with what clients were told was committed (backup integrity)")
CONFORMANCE = ("the running configuration read from the live system and compared, setting by setting, with the "
               "platform specification")

DETECTED = ("the platform's own alert rule raised by the injected failure: its firing and the notification the "
            "on-call receiver got, timed against the rule's window plus the monitoring's intervals (a late or missed "
            "alert is listed as such)")
CAPACITY = ("a capacity condition (a member's disk past 85 %, client connections near max_connections) induced for "
            "real and raised by its alert, timed against its window")
LOGINS = ("invalid logins refused by the database server, recorded in its log and raised as an alert, timed from the "
          "first attempt (the logging itself, not its retention or review)")
QUIET = "a clean run under load in which no alert fired: the rules do not raise alarms without a failure"
CAPACITY_ALERTS = {"PostgresDiskSpace", "PostgresConnectionPoolExhaustion"}
JUDGED = {"detected", "late", "missed", "not notified"}  # "not expected": the fault was too short to be evidence

FAILOVER_TAGS = {"redis_master_failover", "primary_crash", "primary_isolation", "primary_freeze",
                 "sync_standby_loss", "switchover", "dcs_outage", "site_loss"}


def feature_kind(feature: str) -> str:
    """The area a feature belongs to, from its file name or its title ("features/failover.feature",
    "failover", "Disaster recovery", "Backup and restore" all work): recovery, backup, deployment or other."""
    name = re.sub(r"[^a-z0-9]+", "_", Path(feature).name.lower().removesuffix(".feature"))
    if "failover" in name or "disaster" in name:
        return "recovery"
    if "backup" in name or "restore" in name:
        return "backup"
    if "deployment" in name or "conformance" in name:
        return "deployment"
    return "other"


def controls_for(result: ScenarioResult) -> list[tuple[Control, str]]:
    """(control, what this scenario evidences for it); empty when it evidences none of them."""
    if result.status == "skipped":
        return []
    return _by_kind(result) + _by_detection(result) + _by_security(result)


def _by_security(result: ScenarioResult) -> list[tuple[Control, str]]:
    """Each security check evidences the requirements its control bears on, in the check's own words."""
    out: list[tuple[Control, str]] = []
    for check in result.controls:
        ids = [f"PCI-DSS {n}" for n in check.pci_dss] + [f"SOC 2 {n}" for n in check.soc2]
        what = f"{check.control}: {check.how} ({'passed' if check.passed else 'FAILED'})"
        out += [(_BY_ID[i], what) for i in ids if i in _BY_ID and (_BY_ID[i], what) not in out]
    return out


def _by_detection(result: ScenarioResult) -> list[tuple[Control, str]]:
    """What the scenario's detections evidence: a failure detected (or shown not to be), capacity watched,
    invalid logins logged and alerted, or a clean run without a false alarm."""
    judged = {d.alert for d in result.detections if d.verdict in JUDGED}
    out: list[tuple[Control, str]] = []
    if judged:
        out.append((SOC2_CC7_2, DETECTED))
    elif result.monitoring is not None and "steady_state" in {t.lstrip("@") for t in result.tags}:
        out.append((SOC2_CC7_2, QUIET))
    if judged & CAPACITY_ALERTS:
        out.append((SOC2_A1_1, CAPACITY))
    if "PostgresFailedLogins" in judged:
        out.append((PCI_10_2_1_4, LOGINS))
    return out


def _by_kind(result: ScenarioResult) -> list[tuple[Control, str]]:
    kind = feature_kind(result.feature)
    tags = {t.lstrip("@") for t in result.tags}
    if kind == "recovery" or tags & FAILOVER_TAGS:
        return [(PCI_12_10_2, RECOVERY), (SOC2_A1_3, RECOVERY), (ISO_22301_8_5, RECOVERY)]
    if kind == "backup" or "pitr" in tags:
        return [(PCI_12_10_2, BACKUP), (SOC2_A1_3, BACKUP)]
    if kind == "deployment":
        return [(PCI_2_2, CONFORMANCE)]
    return []


def compliance_section(results: list[ScenarioResult]) -> list[dict[str, object]]:
    """One entry per control: the scenarios that evidence it with their status, and an honest note when
    none does (a control with no scenario in this run is listed as not evidenced, not left out)."""
    section = []
    for control in CONTROLS:
        rows = [{"scenario": r.scenario, "feature": r.feature, "status": r.status, "evidences": what}
                for r in results for c, what in controls_for(r) if c == control]
        section.append({"control": control.id, "framework": control.framework, "requirement": control.requirement,
                        "scenarios": rows, "evidenced": bool(rows),
                        "all_passed": bool(rows) and all(row["status"] == "passed" for row in rows)})
    return section


def uncovered(results: list[ScenarioResult]) -> list[str]:
    """Scenarios run that evidence none of the listed controls (said so in the report)."""
    return [r.scenario for r in results if r.status != "skipped" and not controls_for(r)]
