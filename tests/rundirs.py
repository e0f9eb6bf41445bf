"""Lays out whole run directories (the shape `drill run` writes, see waqiti_drill.results) for report tests.

`result_from_check` turns a real checker result into a ScenarioResult the way `drill run` does; the evidence
integration test uses it on a recorded `drill load` + `drill chaos` run.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

from tests.histories import FAULT_WALL, HistoryBuilder
from waqiti_drill.checker import CheckResult, check, write_check
from waqiti_drill.checker.load import load
from waqiti_drill.config import Targets
from waqiti_drill.results import (
    BackupUsed,
    Paths,
    RunManifest,
    ScenarioResult,
    write_manifest,
    write_results,
)
from waqiti_drill.suite.records import Observed, build_result

TARGETS = Targets()


def manifest(run_id: str, started_at: str = "2025-11-25T17:59:00.000Z") -> RunManifest:
    return RunManifest(run_id=run_id, started_at=started_at, finished_at="2025-11-25T18:03:00.000Z",
                       operator="sre-on-call", platform="local", command=["drill", "run", "--tags", "nightly"],
                       tags="nightly", components={"postgresql": "15.18", "patroni": "4.1.5", "redis": "7.0.15",
                                                   "pgbackrest": "2.45", "etcd": "3.4.23"},
                       config_sha256="ab" * 32, targets=Targets(900.0, 3600.0))


def _data_validated(history: Path) -> float | None:
    return load(history).final_done_wall


def result_from_check(run_dir: Path, scenario_dir: Path, result: CheckResult, *, feature: str, scenario: str,
                      tags: list[str], hypothesis: str) -> ScenarioResult:
    """A ScenarioResult from a checker result, assembled as `drill run` assembles one (suite.records), with
    check.json written beside it."""
    rel = scenario_dir.relative_to(run_dir).as_posix()
    write_check(scenario_dir / "check.json", result)
    journal = scenario_dir / "journal.json"
    stats = sorted(scenario_dir.glob("locust_stats*.csv"))
    seen = Observed(feature=feature, scenario=scenario, tags=tags, status="passed" if result.passed else "failed",
                    targets=result.targets, hypothesis=hypothesis,
                    data_validated=_data_validated(scenario_dir / "history"),
                    paths=Paths(dir=rel, history=f"{rel}/history",
                                journal=f"{rel}/journal.json" if journal.exists() else None,
                                locust_stats=stats[0].relative_to(run_dir).as_posix() if stats else None,
                                check=f"{rel}/check.json"))
    return build_result(seen, result)


def _failover_history(root: Path) -> Path:
    """Writes every 0.25 s, a 5 s outage at the fault, all acknowledged writes read back."""
    h = HistoryBuilder(root)
    h.fault("primary_freeze", "pg1", rpo_mode="failover")
    done = h.steady("transfer", -10, 0)
    done.append(h.op("transfer", 1.0, 5.0, proc="w2"))
    h.op("transfer", 0.5, 3.0, outcome="info", proc="w3")
    h.op("transfer", 2.0, 2.5, outcome="fail", proc="w4")
    done += h.steady("transfer", 5.25, 15)
    h.final_transfers([v["tid"] for v in done])
    h.final_done("postgres")
    return h.build()


def _roles(path: Path, switch_at: float) -> None:
    lines = []
    for i in range(0, 30):
        t = -10 + i
        if t < 0:
            members = {"pg1": "primary", "pg2": "sync_standby", "pg3": "replica"}
        elif t < switch_at:
            members = {"pg1": "unknown", "pg2": "sync_standby", "pg3": "replica"}
        else:
            members = {"pg1": "replica", "pg2": "primary", "pg3": "sync_standby"}
        lines.append(json.dumps({"wall": FAULT_WALL + t, "members": members}))
    path.write_text("\n".join(lines) + "\n")


def allure_result(results_dir: Path, scenario: str, uuid: str) -> Path:
    """A result file as allure-pytest-bdd writes one (the fields the report touches)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{uuid}-result.json"
    path.write_text(json.dumps({"uuid": uuid, "name": scenario, "status": "passed", "steps": [],
                                "attachments": [], "labels": [{"name": "feature", "value": "failover"}]}))
    return path


def make_run(reports: Path, run_id: str = "20251125T175900Z-ab12", started_at: str = "2025-11-25T17:59:00.000Z",
             with_allure: bool = True) -> Path:
    """A two-scenario run: a failover with history, roles, journal and stats, and a deployment check."""
    run_dir = reports / run_id
    scenario_dir = run_dir / "scenarios" / "primary_freeze"
    _failover_history(scenario_dir / "history")
    _roles(scenario_dir / "roles.jsonl", switch_at=5)
    (scenario_dir / "journal.json").write_text(json.dumps({"status": "completed", "deviated": False}))
    (scenario_dir / "locust_stats.csv").write_text("Type,Name,Request Count\ntransfer,postgres,100\n")
    result = check(scenario_dir / "history", TARGETS)
    failover = result_from_check(run_dir, scenario_dir, result, feature="failover", scenario="Primary freeze",
                                 tags=["nightly", "primary_freeze"],
                                 hypothesis="Writes resume on the same primary within the RTO; none is lost")
    failover.backups = [BackupUsed(label="20251125-175000F", type="full", wal_start="000000010000000000000003",
                                   wal_stop="000000010000000000000004", stop="2025-11-25T17:50:05Z")]
    deployment = ScenarioResult(feature="deployment", scenario="The stack conforms to the spec",
                                tags=["nightly"], status="passed", targets=Targets(900.0, 3600.0),
                                hypothesis="Every value in the spec's Configuration Details is what runs")
    write_manifest(run_dir, manifest(run_id, started_at))
    write_results(run_dir, [failover, deployment])
    if with_allure:
        allure_result(run_dir / "allure-results", "Primary freeze", "0f0e0d0c-0000-4000-8000-000000000001")
    return run_dir


def copy_run(run_dir: Path, to: Path) -> Path:
    shutil.copytree(run_dir, to)
    return to


# The @nightly scenarios as results.json names them, with their tags and typical figures (RTO, RPO).
NIGHTLY = [
    ("PostgreSQL failover under steady ledger load", "The primary is lost without warning [killed]",
     ["destructive", "nightly", "primary_crash", "quarterly"], 20.4, 0.0),
    ("Redis Cluster resharding and master failover under load", "A master is killed and its replica is promoted",
     ["destructive", "nightly", "quarterly", "redis_master_failover"], 8.1, 0.0),
    ("Disaster recovery of the whole site from the object store",
     "The PostgreSQL cluster is lost and rebuilt from the object store alone",
     ["destructive", "nightly", "quarterly", "site_loss", "slow"], 21.4, 5.7),
    ("PostgreSQL failover under steady ledger load", "The primary hangs for less than the leader key's ttl",
     ["destructive", "primary_freeze", "quarterly"], 5.0, 0.0),
    ("PostgreSQL failover under steady ledger load", "The primary-freeze drill runs as its chaostoolkit experiment",
     ["destructive", "primary_freeze", "quarterly"], 5.0, 0.0),
    ("The deployed platform conforms to the spec", "Redis runs as a cluster with authentication, AOF + RDB and a "
     "bounded LRU memory", ["deployment", "nightly", "quarterly"], None, None),
]


def make_trend_runs(reports: Path, runs: int, failed_run: int | None = None) -> list[Path]:
    """`runs` run directories (results.json and run.json only, one a day) of the scenarios above, figures
    varying by run; in `failed_run` (an index) the primary crash fails with an RTO over its target."""
    made = []
    for i in range(runs):
        run_id = f"2025110{i // 10}{i % 10}T020000Z-{i:04x}" if runs < 100 else f"run-{i:04d}"
        run_dir = reports / run_id
        run_dir.mkdir(parents=True)
        results = []
        for n, (feature, scenario, tags, rto, rpo) in enumerate(NIGHTLY):
            wobble = 1.0 + 0.1 * ((i * 7 + n * 3) % 5 - 2)
            bad = failed_run == i and n == 0
            results.append(ScenarioResult(
                feature=feature, scenario=scenario, tags=tags, status="failed" if bad else "passed",
                targets=Targets(900.0, 3600.0),
                rto_seconds=None if rto is None else (950.0 if bad else rto * wobble),
                rpo_seconds=None if rpo is None else rpo * wobble, duration_seconds=30.0 + n,
                deviations=["RTO 950.0s > target 900s"] if bad else []))
        write_results(run_dir, results)
        started = dt.datetime(2025, 11, 1, 2, tzinfo=dt.UTC) + dt.timedelta(days=i)
        write_manifest(run_dir, manifest(run_id, started.strftime("%Y-%m-%dT%H:%M:%S.000Z")))
        made.append(run_dir)
    return made
