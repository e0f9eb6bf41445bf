"""The evidence document as plain data: what report.json holds and report.html shows.

It is a view of run.json and results.json (plus the plot files drawn from the raw history), so the two
outputs can never disagree. It carries no build time: the same raw data gives the same report.json,
which is what lets an auditor rebuild a report and compare it with the signed one.
"""

from __future__ import annotations

from typing import Any

from waqiti_drill.report.compliance import compliance_section, controls_for, uncovered
from waqiti_drill.report.model import Run, slug
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
    }


def build_document(run: Run, plots: dict[str, dict[str, str]], attachments: dict[str, list[str]],
                   summaries: dict[str, str], integrity: dict[str, Any]) -> dict[str, Any]:
    """Inputs are keyed by scenario slug; paths are relative to the run directory. `integrity` names the
    signing key and how many secrets the run is scanned for (it is signed only when none is found)."""
    m = run.manifest
    counts = {status: sum(1 for r in run.results if r.status == status) for status in ("passed", "failed", "skipped")}
    return {
        "schema": SCHEMA,
        "drill_id": m.run_id,
        "operator": m.operator,
        "started_at": m.started_at,
        "finished_at": m.finished_at,
        "scope": {"platform": m.platform, "components": m.components, "config_sha256": m.config_sha256,
                  "command": m.command, "tags": m.tags, "targets": to_json(m.targets),
                  "timeout_multiplier": m.timeout_multiplier},
        "summary": {"scenarios": len(run.results), **counts},
        "scenarios": [scenario_entry(r, plots.get(slug(r), {}), attachments.get(slug(r), []), summaries.get(slug(r)))
                      for r in run.results],
        "compliance": compliance_section(run.results),
        "evidences_no_listed_control": uncovered(run.results),
        "integrity": integrity,
    }
