"""What a drill run hands on: one ScenarioResult per scenario, and the RunManifest of the run.

These are the plain data between the drill suite (which writes them) and the report builder (which
reads them, long after the run, without talking to any server). A run directory looks like:

    reports/<run-id>/
      run.json                     RunManifest
      results.json                 [ScenarioResult, ...]
      scenarios/<slug>/            one per scenario: history/*.jsonl, journal.json, locust_stats*.csv,
                                   check.json (the checker's full result), steps.log
      allure-results/              allure-pytest-bdd output
      evidence/                    the signed evidence report (report.html, report.json, manifest)

Paths inside records are relative to the run directory, so a run can be moved or archived whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from waqiti_drill.config import Targets
from waqiti_drill.datajson import from_json, to_json
from waqiti_drill.errors import InvalidConfig

Status = Literal["passed", "failed", "skipped"]
RESULTS_FILE = "results.json"
MANIFEST_FILE = "run.json"


@dataclass
class FaultInfo:
    name: str
    target: str
    injected_at: str | None  # ISO 8601 UTC, from the fault's own record


@dataclass
class Timeline:
    """The UTC instants an auditor asks for (ISO 8601, None when the scenario has no such moment)."""

    fault_injected: str | None = None
    failure_detected: str | None = None  # the first client operation the fault affected
    writable_again: str | None = None  # the first acknowledged write after the outage began
    data_validated: str | None = None  # the final read-back finished
    # Detection, from the platform's monitoring (the first alert the fault raised; see Detection):
    alert_pending: str | None = None  # the rule evaluation at which it became pending
    alert_firing: str | None = None  # ... at which it fired ("detected")
    alert_notified: str | None = None  # the harness's receiver got Alertmanager's notification
    healthy: str | None = None  # the heal finished: the platform healthy again


@dataclass
class Detection:
    """One alert a condition of the drill should raise (or did), timed from the condition's instant.

    pending/firing are Prometheus's own rule-evaluation timestamps (the ALERTS series' raw samples, to
    the millisecond); notified is when the harness's receiver got the notification; resolved is the
    evaluation that resolved it (the resolved notification's endsAt). Seconds count from `condition_at`.
    The budget is lead + for + scrape interval + evaluation interval + group_wait: the latest a notification
    may arrive if every part works (lead: how long the condition needs to cross the rule's threshold).
    """

    alert: str
    labels: dict[str, str]  # the instance the alert is about (member, node), as matched
    condition: str  # what raised it, e.g. "kill_member pg2", "backup failed"
    condition_at: str  # ISO 8601 UTC
    held_seconds: float | None  # how long the condition stood (None: still standing when measured)
    window_seconds: float  # the rule's `for`
    lead_seconds: float
    budget_seconds: float
    verdict: str  # detected | late | not notified | missed | not expected
    pending_at: str | None = None
    firing_at: str | None = None
    notified_at: str | None = None
    resolved_at: str | None = None
    resolved_notified_at: str | None = None
    pending_seconds: float | None = None
    firing_seconds: float | None = None
    notified_seconds: float | None = None
    resolved_seconds: float | None = None
    note: str = ""


@dataclass
class MonitoringSeen:
    """What monitoring saw over the scenario, and with which settings (so a figure can be re-derived)."""

    scrape_interval_seconds: float
    evaluation_interval_seconds: float
    group_wait_seconds: float
    group_interval_seconds: float
    rules_sha256: str
    fired: list[str] = field(default_factory=list)  # every alert that fired, e.g. "PostgresInstanceDown{member=pg2}"
    false_positives: list[str] = field(default_factory=list)  # fired with no fault or condition to explain it
    uncovered: list[str] = field(default_factory=list)  # faults of the drill that no alert rule watches
    active_at_start: list[str] = field(default_factory=list)  # still pending/firing when the scenario began
    # failed-login alerts that refused logins of an earlier scenario, still in the rule's window, could raise
    carried_over: list[str] = field(default_factory=list)


@dataclass
class BackupUsed:
    label: str
    type: str
    wal_start: str
    wal_stop: str
    stop: str = ""  # when the set finished, ISO 8601 UTC


@dataclass
class RegionRecovery:
    """A region loss: where each service came back from, and the parts of its RPO (restore mode)."""

    lost_region: str
    recovered_in: str
    replication_method: str  # "sync" (scheduled aws s3 sync) or "repo2" (pgBackRest's second repository)
    postgres_restored_from: str  # which copy: the region's store, the set, "+ archived WAL"
    redis_restored_from: str
    replication_lag_seconds: float  # age of the oldest WAL segment the backup region lacked when the loss began
    replication_segments_behind: int
    archive_lag_seconds: float | None  # the loss instant minus when the newest WAL segment was archived
    postgres_set_age_seconds: float  # the loss instant minus the restored set's end: what WAL replay had to cover
    redis_backup_age_seconds: float | None  # the loss instant minus the restored Redis backup's start
    failover_seconds: float
    postgres_lost: int | None = None  # from the clients' history (the checker, restore mode)
    postgres_rpo_seconds: float | None = None
    redis_lost: int | None = None  # sessions and counter increments
    redis_rpo_seconds: float | None = None


@dataclass
class ControlCheck:
    """One security control of the spec, checked on the live platform by a security drill.

    `findings` has one line per thing examined (an endpoint, a volume, a role), so a failure names what broke
    and a pass says what was looked at; `how` is the method in a sentence an auditor can repeat."""

    control: str  # e.g. "TLS 1.2 or later on every connection"
    how: str
    passed: bool
    findings: list[str] = field(default_factory=list)
    pci_dss: list[str] = field(default_factory=list)  # PCI DSS v4.0 requirement numbers, e.g. ["4.2.1"]
    soc2: list[str] = field(default_factory=list)  # Trust Services Criteria, e.g. ["CC6.7"]


@dataclass
class Paths:
    """Relative to the run directory; None where the scenario produced no such file."""

    dir: str | None = None
    history: str | None = None
    journal: str | None = None
    locust_stats: str | None = None
    check: str | None = None


@dataclass
class ScenarioResult:
    feature: str
    scenario: str
    tags: list[str]
    status: Status
    targets: Targets
    rto_seconds: float | None = None
    rpo_seconds: float | None = None
    acked_writes: int | None = None
    lost_writes: int | None = None
    recovered_writes: int | None = None
    fault: FaultInfo | None = None
    timeline: Timeline = field(default_factory=Timeline)
    hypothesis: str = ""  # what the scenario claims, in the feature's own words
    backups: list[BackupUsed] = field(default_factory=list)
    deviations: list[str] = field(default_factory=list)  # targets missed, problems, the failing step's error
    measurements: dict[str, float | int | str] = field(default_factory=dict)  # other figures, by name
    paths: Paths = field(default_factory=Paths)
    started_at: str | None = None
    duration_seconds: float | None = None
    timeout_multiplier: float | None = None  # DRILL_TIMEOUT_MULTIPLIER: the scenario's wait bounds were this times
    detections: list[Detection] = field(default_factory=list)
    monitoring: MonitoringSeen | None = None  # None: the platform has no monitoring (or it is disabled)
    region: RegionRecovery | None = None  # a region-loss drill: where each service came back from
    controls: list[ControlCheck] = field(default_factory=list)  # a security drill: each control checked


@dataclass
class RunManifest:
    run_id: str
    started_at: str
    finished_at: str | None
    operator: str
    platform: str
    command: list[str]
    tags: str | None
    components: dict[str, str]  # component -> version, read from the binaries and servers
    config_sha256: str  # of the effective configuration, secrets left out
    targets: Targets
    timeout_multiplier: float | None = None  # DRILL_TIMEOUT_MULTIPLIER in force (None: not recorded, older runs)
    ticket: str | None = None  # the change ticket the drill ran under (drill run --ticket)


def write_results(run_dir: Path, results: list[ScenarioResult]) -> Path:
    path = run_dir / RESULTS_FILE
    path.write_text(json.dumps([to_json(r) for r in results], indent=2) + "\n")
    return path


def write_manifest(run_dir: Path, manifest: RunManifest) -> Path:
    path = run_dir / MANIFEST_FILE
    path.write_text(json.dumps(to_json(manifest), indent=2) + "\n")
    return path


def _read_json(path: Path) -> Any:  # noqa: ANN401
    if not path.is_file():
        raise InvalidConfig(f"{path}: no such file (is this a drill run directory?)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InvalidConfig(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None


def read_results(run_dir: Path) -> list[ScenarioResult]:
    path = run_dir / RESULTS_FILE
    data = _read_json(path)
    if not isinstance(data, list):
        raise InvalidConfig(f"{path}: expected a list of scenario results")
    return [from_json(ScenarioResult, item, f"{path}[{i}]") for i, item in enumerate(data)]


def read_manifest(run_dir: Path) -> RunManifest:
    path = run_dir / MANIFEST_FILE
    return from_json(RunManifest, _read_json(path), str(path))
