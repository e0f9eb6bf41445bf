"""The evidence document as plain data: what report.json holds and report.html shows.

It is a view of run.json and results.json (plus the plot files drawn from the raw history), so the two
outputs can never disagree. It carries no build time: the same raw data gives the same report.json,
which is what lets an auditor rebuild a report and compare it with the signed one.
"""

from __future__ import annotations

from typing import Any

from waqiti_drill.report.compliance import compliance_section, controls_for, uncovered
from waqiti_drill.report.detection import decomposition, detection_rows
from waqiti_drill.report.model import Run, slug
from waqiti_drill.report.security import security_section
from waqiti_drill.results import ScenarioResult, to_json

SCHEMA = "waqiti-drill-evidence/1"


def verdict(measured: float | None, target: float, has_fault: bool) -> str:
    """PASS/FAIL against the target; a scenario without a fault has nothing to measure (n/a), and one with
    a fault but no figure was not measured: never reported as a pass."""
    if measured is None:
        return "NOT MEASURED" if has_fault else "n/a"
    return "PASS" if measured <= target else "FAIL"


def scenario_entry(result: ScenarioResult, plots: dict[str, str], attachments: list[str], summary: str | None
                   ) -> dict[str, Any]:
    has_fault = result.fault is not None
    return {
        "slug": slug(result),
        "feature": result.feature,
        "scenario": result.scenario,
        "tags": result.tags,
        "status": result.status,
        "hypothesis": result.hypothesis,
        "fault": to_json(result.fault) if result.fault else None,
        "timeline": to_json(result.timeline),
        "rto": {"measured_seconds": result.rto_seconds, "target_seconds": result.targets.rto_seconds,
                "verdict": verdict(result.rto_seconds, result.targets.rto_seconds, has_fault)},
        "rpo": {"measured_seconds": result.rpo_seconds, "target_seconds": result.targets.rpo_seconds,
                "verdict": verdict(result.rpo_seconds, result.targets.rpo_seconds, has_fault)},
        "writes": {"acknowledged": result.acked_writes, "lost": result.lost_writes,
                   "recovered": result.recovered_writes},
        "backups": [to_json(b) for b in result.backups],
        "region": to_json(result.region) if result.region else None,
        "deviations": result.deviations,
        "measurements": result.measurements,
        "controls": [c.id for c, _ in controls_for(result)],
        "plots": plots,
        "raw": to_json(result.paths),
        "allure_attachments": attachments,
        "history_summary": summary,  # the checker's table, from check.json
        "started_at": result.started_at,
        "duration_seconds": result.duration_seconds,
        "detections": detection_rows(result),
        "rto_decomposed": decomposition(result),  # seconds from the fault: detected, notified, writable, healthy
        "monitoring": to_json(result.monitoring) if result.monitoring else None,
        "security_checks": [to_json(c) for c in result.controls],
    }


def detection_summary(results: list[ScenarioResult]) -> dict[str, Any]:
    """The run's detections against their budgets, and what fired with nothing to explain it."""
    monitored = [r for r in results if r.monitoring is not None]
    first = next((r.monitoring for r in monitored), None)
    return {
        "rows": [row for r in results for row in detection_rows(r)],
        "false_positives": [f"{r.scenario}: {a}" for r in monitored for a in r.monitoring.false_positives],  # type: ignore[union-attr]
        "uncovered": sorted({u for r in monitored for u in r.monitoring.uncovered}),  # type: ignore[union-attr]
        "scenarios_monitored": len(monitored),
        "intervals": None if first is None else {
            "scrape_seconds": first.scrape_interval_seconds, "evaluation_seconds": first.evaluation_interval_seconds,
            "group_wait_seconds": first.group_wait_seconds, "rules_sha256": first.rules_sha256},
    }


def _objective(entries: list[dict[str, Any]], key: str, target: float) -> dict[str, Any]:
    """One DR objective over the run: met when every scenario with a fault measured a figure within the
    target; not met when one missed it or a faulted scenario measured nothing; not exercised without faults."""
    measured = [e for e in entries if e[key]["verdict"] in ("PASS", "FAIL")]
    unmeasured = [e for e in entries if e[key]["verdict"] == "NOT MEASURED"]
    worst = max(measured, key=lambda e: e[key]["measured_seconds"], default=None)
    if not measured and not unmeasured:
        met = None
    else:
        met = not unmeasured and all(e[key]["verdict"] == "PASS" for e in measured)
    return {"met": met, "target_seconds": target,
            "worst_seconds": worst[key]["measured_seconds"] if worst else None,
            "worst_scenario": worst["scenario"] if worst else None, "worst_slug": worst["slug"] if worst else None,
            "measured_in": len(measured), "not_measured": [e["slug"] for e in unmeasured]}


def _attention(entry: dict[str, Any]) -> str | None:
    """Why a scenario needs a reader's attention (failed, skipped, a target missed or unmeasured), or None."""
    if entry["status"] != "passed":
        return (entry["deviations"] or [entry["status"]])[-1]
    missed = [k.upper() for k in ("rto", "rpo") if entry[k]["verdict"] in ("FAIL", "NOT MEASURED")]
    return f"{' and '.join(missed)} not within the target or not measured" if missed else None


def executive_summary(entries: list[dict[str, Any]], rto_target: float, rpo_target: float) -> dict[str, Any]:
    """What a manager reads first: were the DR objectives met, the worst figures against the targets, and
    every scenario that failed, was skipped or measured nothing (each linked to its section by slug)."""
    rto, rpo = _objective(entries, "rto", rto_target), _objective(entries, "rpo", rpo_target)
    attention = [{"slug": e["slug"], "scenario": e["scenario"], "status": e["status"], "why": why}
                 for e in entries if (why := _attention(e)) is not None]
    passed = sum(e["status"] == "passed" for e in entries)
    verdicts = [o["met"] for o in (rto, rpo) if o["met"] is not None]
    if not entries:
        overall = "NO SCENARIO RAN"
    elif not verdicts:
        overall = "OBJECTIVES NOT EXERCISED" if passed == len(entries) else "FAILED"
    else:
        overall = "MET" if all(verdicts) and passed == len(entries) else "NOT MET"
    return {"overall": overall, "rto": rto, "rpo": rpo, "passed": passed, "scenarios": len(entries),
            "attention": attention}


def build_document(run: Run, plots: dict[str, dict[str, str]], attachments: dict[str, list[str]],
                   summaries: dict[str, str], integrity: dict[str, Any]) -> dict[str, Any]:
    """Inputs are keyed by scenario slug; paths are relative to the run directory. `integrity` names the
    signing key and how many secrets the run is scanned for (it is signed only when none is found)."""
    m = run.manifest
    counts = {status: sum(1 for r in run.results if r.status == status) for status in ("passed", "failed", "skipped")}
    entries = [scenario_entry(r, plots.get(slug(r), {}), attachments.get(slug(r), []), summaries.get(slug(r)))
               for r in run.results]
    return {
        "schema": SCHEMA,
        "drill_id": m.run_id,
        "operator": m.operator,
        "ticket": m.ticket,
        "started_at": m.started_at,
        "finished_at": m.finished_at,
        "scope": {"platform": m.platform, "components": m.components, "config_sha256": m.config_sha256,
                  "command": m.command, "tags": m.tags, "targets": to_json(m.targets),
                  "timeout_multiplier": m.timeout_multiplier},
        "summary": {"scenarios": len(run.results), **counts},
        "executive_summary": executive_summary(entries, m.targets.rto_seconds, m.targets.rpo_seconds),
        "scenarios": entries,
        "detection": detection_summary(run.results),
        "compliance": compliance_section(run.results),
        "security": security_section(run.results),
        "evidences_no_listed_control": uncovered(run.results),
        "integrity": integrity,
    }
