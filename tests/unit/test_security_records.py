"""The security drill's records: a control's verdict from its findings, carried through results.json into the
evidence's security section, the compliance mapping and the HTML; failed controls become deviations."""

from __future__ import annotations

import json

import pytest

from tests.rundirs import make_run
from waqiti_drill.config import Targets
from waqiti_drill.report.build import build
from waqiti_drill.report.compliance import controls_for
from waqiti_drill.report.security import security_section
from waqiti_drill.results import ControlCheck, ScenarioResult, read_results, write_results
from waqiti_drill.security.controls import AT_REST, CONTROLS, TLS_VERSION, finding
from waqiti_drill.suite.records import Observed, build_result


@pytest.fixture(autouse=True)
def no_allure_html(monkeypatch):
    monkeypatch.setenv("DRILL_ALLURE", "")


def test_a_control_passes_only_with_findings_and_none_failing():
    assert TLS_VERSION.check([finding(True, "pg1: TLS 1.1 refused")]).passed
    assert not TLS_VERSION.check([]).passed, "nothing examined proves nothing"
    assert not TLS_VERSION.check([finding(True, "a"), finding(False, "b")]).passed
    context_only = TLS_VERSION.check(["plain text by design: Prometheus (127.0.0.1 only)", finding(True, "a")])
    assert context_only.passed and context_only.pci_dss == ["4.2.1"] and context_only.soc2 == ["CC6.7"]


def test_every_control_names_its_requirements():
    assert len({c.control for c in CONTROLS}) == len(CONTROLS)
    assert all(c.pci_dss and c.soc2 and c.how for c in CONTROLS)


def _result(controls: list[ControlCheck], status: str = "passed") -> ScenarioResult:
    return ScenarioResult(feature="features/security.feature", scenario="Data at rest", tags=["security"],
                          status=status, targets=Targets(), controls=controls)  # type: ignore[arg-type]


def test_security_section_lists_every_control_and_judges_the_checked_ones():
    ok = AT_REST.check([finding(True, "pg1: not found")], how="raw scan")
    bad = AT_REST.check([finding(False, "redis: canary FOUND in plain text")], how="raw scan again")
    section = security_section([_result([ok]), _result([bad])])
    rows = {r["control"]: r for r in section["controls"]}
    assert rows[AT_REST.control]["verdict"] == "NOT MET" and len(rows[AT_REST.control]["checks"]) == 2
    assert rows[TLS_VERSION.control]["verdict"] == "not checked"
    assert (section["checked"], section["met"]) == (1, 0)
    assert security_section([_result([ok])])["met"] == 1


def test_a_security_check_evidences_its_requirements_and_a_skipped_one_nothing():
    check = AT_REST.check([finding(True, "pg1: not found")])
    evidenced = {c.id for c, _ in controls_for(_result([check]))}
    assert evidenced == {"PCI-DSS 3.5.1", "SOC 2 CC6.1"}
    assert controls_for(_result([check], status="skipped")) == []


def test_a_failed_control_is_a_deviation_naming_its_failing_findings():
    bad = AT_REST.check([finding(True, "pg1: not found"), finding(False, "redis: canary FOUND in plain text")])
    seen = Observed(feature="features/security.feature", scenario="Data at rest", tags=["security"], status="failed",
                    targets=Targets(), controls=[bad])
    result = build_result(seen, None)
    assert result.deviations == [f"control not met: {AT_REST.control}: FAIL: redis: canary FOUND in plain text"]


def test_controls_round_trip_through_results_json_into_the_report(tmp_path):
    run_dir = make_run(tmp_path / "reports")
    results = read_results(run_dir)
    results[1].controls = [TLS_VERSION.check([finding(True, "postgres pg1 10.0.0.11:25441: TLS 1.1 refused: <b>")])]
    write_results(run_dir, results)
    assert read_results(run_dir)[1].controls == results[1].controls
    build(run_dir, tmp_path / "key.pem", {})
    doc = json.loads((run_dir / "evidence" / "report.json").read_text())
    row = next(r for r in doc["security"]["controls"] if r["control"] == TLS_VERSION.control)
    assert row["verdict"] == "met" and row["checks"][0]["findings"][0].startswith("ok: postgres pg1")
    html = (run_dir / "evidence" / "report.html").read_text()
    assert 'id="security"' in html and "TLS 1.1 refused: &lt;b&gt;" in html, "findings are escaped"
