"""The executive summary the evidence report opens with, judged on plain scenario entries."""

from __future__ import annotations

import json

from tests.rundirs import make_run
from waqiti_drill.report.build import build
from waqiti_drill.report.document import executive_summary


def entry(slug, status="passed", rto=None, rpo=None, fault=True, deviations=()):
    def fig(value, target):
        verdict = ("NOT MEASURED" if fault else "n/a") if value is None else "PASS" if value <= target else "FAIL"
        return {"measured_seconds": value, "target_seconds": target, "verdict": verdict}

    return {"slug": slug, "scenario": slug.replace("_", " "), "status": status, "rto": fig(rto, 900.0),
            "rpo": fig(rpo, 3600.0), "deviations": list(deviations)}


def test_met_names_the_worst_figures_and_where():
    e = executive_summary([entry("crash", rto=20.4, rpo=0.0), entry("site_loss", rto=8.4, rpo=2.4),
                           entry("conformance", fault=False)], 900.0, 3600.0)
    assert e["overall"] == "MET" and e["passed"] == 3 and e["attention"] == []
    assert (e["rto"]["worst_seconds"], e["rto"]["worst_slug"], e["rto"]["met"]) == (20.4, "crash", True)
    assert (e["rpo"]["worst_seconds"], e["rpo"]["worst_slug"]) == (2.4, "site_loss")


def test_a_missed_target_or_an_unmeasured_fault_is_not_met_and_listed():
    e = executive_summary([entry("crash", status="failed", rto=950.0, rpo=0.0, deviations=["RTO 950.0s > 900s"]),
                           entry("freeze", rto=None, rpo=0.0), entry("skip", status="skipped", fault=False,
                                                                   deviations=["skipped: needs root"])],
                          900.0, 3600.0)
    assert e["overall"] == "NOT MET" and e["rto"]["met"] is False and e["rpo"]["met"] is True
    assert e["rto"]["not_measured"] == ["freeze"] and e["rto"]["worst_seconds"] == 950.0
    assert [(a["slug"], a["why"]) for a in e["attention"]] == [
        ("crash", "RTO 950.0s > 900s"), ("freeze", "RTO not within the target or not measured"),
        ("skip", "skipped: needs root")]


def test_a_run_without_faults_exercises_no_objective():
    e = executive_summary([entry("conformance", fault=False)], 900.0, 3600.0)
    assert e["overall"] == "OBJECTIVES NOT EXERCISED" and e["rto"]["met"] is None
    failed = executive_summary([entry("conformance", status="failed", fault=False, deviations=["x"])], 900, 3600)
    assert failed["overall"] == "FAILED" and failed["attention"][0]["why"] == "x"
    assert executive_summary([], 900.0, 3600.0)["overall"] == "NO SCENARIO RAN"


def test_operator_and_ticket_are_in_the_signed_report(tmp_path):
    run_dir = make_run(tmp_path / "reports", with_allure=False)
    manifest = json.loads((run_dir / "run.json").read_text())
    manifest.update(operator="alice (SRE on call)", ticket="CHG-2026-0042")
    (run_dir / "run.json").write_text(json.dumps(manifest))
    build(run_dir, tmp_path / "key.pem", {})
    doc = json.loads((run_dir / "evidence" / "report.json").read_text())
    assert doc["operator"] == "alice (SRE on call)" and doc["ticket"] == "CHG-2026-0042"
    html = (run_dir / "evidence" / "report.html").read_text()
    assert "under change ticket <b>CHG-2026-0042</b>" in html and "<th>Change ticket</th><td>CHG-2026-0042" in html
    signed = json.loads((run_dir / "evidence" / "MANIFEST.json").read_text())["files"]
    assert "run.json" in signed  # the ticket is signed with the run


def test_an_old_run_json_without_a_ticket_still_reads(tmp_path):
    run_dir = make_run(tmp_path / "reports", with_allure=False)
    manifest = json.loads((run_dir / "run.json").read_text())
    manifest.pop("ticket", None)
    (run_dir / "run.json").write_text(json.dumps(manifest))
    build(run_dir, tmp_path / "key.pem", {})
    assert json.loads((run_dir / "evidence" / "report.json").read_text())["ticket"] is None
