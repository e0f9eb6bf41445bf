"""The evidence report built from a generated run directory: content, self-containment, Allure attachments,
determinism, the compliance mapping and the trend."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.rundirs import make_run
from waqiti_drill.report.build import build
from waqiti_drill.report.trend import write_trend
from waqiti_drill.results import read_results

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def no_allure_html(monkeypatch):
    """`allure generate` costs a second per build; only the tests about it run it."""
    monkeypatch.setenv("DRILL_ALLURE", "")


@pytest.fixture
def run_dir(tmp_path):
    return make_run(tmp_path / "reports")


@pytest.fixture
def key(tmp_path):
    return tmp_path / "keys" / "signing_key.pem"


def test_report_json_carries_the_measured_figures_and_the_scope(run_dir, key):
    build(run_dir, key, {})
    doc = json.loads((run_dir / "evidence" / "report.json").read_text())
    assert doc["drill_id"] == "20251125T175900Z-ab12" and doc["operator"] == "sre-on-call"
    assert doc["scope"]["components"]["postgresql"] == "15.18" and doc["scope"]["config_sha256"] == "ab" * 32
    freeze, deployment = doc["scenarios"]
    # The generated history has a 5 s outage (last fast ack at -0.24 s, the next at +5 s).
    assert freeze["rto"]["measured_seconds"] == pytest.approx(5.0, abs=0.3)
    assert freeze["rto"]["verdict"] == "PASS" and freeze["rpo"]["verdict"] == "PASS"
    assert freeze["writes"]["lost"] == 0 and freeze["writes"]["acknowledged"] > 70
    assert freeze["timeline"]["fault_injected"] == "2025-11-25T18:00:00.000Z"
    assert freeze["timeline"]["writable_again"] is not None and freeze["timeline"]["data_validated"] is not None
    assert freeze["backups"][0]["wal_start"] == "000000010000000000000003"
    assert deployment["rto"]["verdict"] == "n/a", "no fault: nothing to measure, and not called a pass"
    assert set(freeze["plots"]) == {"throughput", "roles"}
    assert "RTO" in freeze["history_summary"] and "result: PASS" in freeze["history_summary"]
    assert deployment["history_summary"] is None
    for path in freeze["plots"].values():
        assert (run_dir / path).read_bytes().startswith(PNG)


def test_a_fault_without_a_figure_is_not_measured_not_passed(run_dir, key):
    results = json.loads((run_dir / "results.json").read_text())
    results[0]["rto_seconds"] = None
    (run_dir / "results.json").write_text(json.dumps(results))
    build(run_dir, key, {})
    doc = json.loads((run_dir / "evidence" / "report.json").read_text())
    assert doc["scenarios"][0]["rto"]["verdict"] == "NOT MEASURED"


def test_compliance_maps_failover_to_all_three_and_deployment_to_configuration_only(run_dir, key):
    build(run_dir, key, {})
    doc = json.loads((run_dir / "evidence" / "report.json").read_text())
    by_control = {c["control"]: [r["scenario"] for r in c["scenarios"]] for c in doc["compliance"]}
    security = {c: [] for c in ("PCI-DSS 1.3.1", "PCI-DSS 3.5.1", "PCI-DSS 4.2.1", "PCI-DSS 7.2.1", "PCI-DSS 7.2.2",
                                "PCI-DSS 8.3.1", "PCI-DSS 8.3.2", "PCI-DSS 8.3.6", "PCI-DSS 10.2.1", "PCI-DSS 10.2.2",
                                "SOC 2 CC6.1", "SOC 2 CC6.3", "SOC 2 CC6.6", "SOC 2 CC6.7")}
    assert by_control == {"PCI-DSS 12.10.2": ["Primary freeze"], "SOC 2 A1.3": ["Primary freeze"],
                          "ISO 22301 §8.5": ["Primary freeze"], "PCI-DSS 2.2": ["The stack conforms to the spec"],
                          # no detection recorded in this run: the monitoring controls are listed, not evidenced
                          "SOC 2 CC7.2": [], "SOC 2 A1.1": [], "PCI-DSS 10.2.1.4": [],
                          # no security drill in this run: its controls are listed, not evidenced
                          **security}
    assert doc["security"]["checked"] == 0 and all(c["verdict"] == "not checked" for c in doc["security"]["controls"])


def test_a_skipped_scenario_evidences_nothing(run_dir, key):
    results = json.loads((run_dir / "results.json").read_text())
    results[0]["status"] = "skipped"
    (run_dir / "results.json").write_text(json.dumps(results))
    build(run_dir, key, {})
    doc = json.loads((run_dir / "evidence" / "report.json").read_text())
    recovery = next(c for c in doc["compliance"] if c["control"] == "PCI-DSS 12.10.2")
    assert recovery["evidenced"] is False and recovery["scenarios"] == []
    html = (run_dir / "evidence" / "report.html").read_text()
    assert "Not evidenced by this run" in html


def test_html_is_self_contained_and_names_every_scenario(run_dir, key):
    build(run_dir, key, {})
    html = (run_dir / "evidence" / "report.html").read_text()
    assert "Primary freeze" in html and "The stack conforms to the spec" in html
    assert html.count("data:image/png;base64,") == 2
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:|//|file:)", html), "nothing may be fetched"
    assert "<script" not in html and "<link" not in html and "@import" not in html


def test_html_escapes_what_comes_from_feature_files(run_dir, key):
    results = json.loads((run_dir / "results.json").read_text())
    results[1]["scenario"] = "<img src=x onerror=alert(1)>"
    (run_dir / "results.json").write_text(json.dumps(results))
    build(run_dir, key, {})
    html = (run_dir / "evidence" / "report.html").read_text()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_plots_and_raw_files_are_attached_to_the_allure_result_once_even_when_rebuilt(run_dir, key):
    build(run_dir, key, {})
    build(run_dir, key, {})
    result_file = next((run_dir / "allure-results").glob("*-result.json"))
    attachments = json.loads(result_file.read_text())["attachments"]
    names = sorted(a["name"] for a in attachments)
    assert names == sorted(["Locust stats", "check result (JSON)", "chaostoolkit journal", "history summary",
                            "roles plot", "throughput plot"])
    for a in attachments:
        assert re.fullmatch(r"[0-9a-f-]{36}-attachment\.\w+", a["source"])
        assert (run_dir / "allure-results" / a["source"]).is_file()
    assert len(list((run_dir / "allure-results").glob("*-attachment.*"))) == 6


def test_the_same_raw_data_gives_the_same_report(run_dir, key):
    build(run_dir, key, {})
    first = {p.name: p.read_bytes() for p in (run_dir / "evidence").rglob("*") if p.is_file()}
    build(run_dir, key, {})
    second = {p.name: p.read_bytes() for p in (run_dir / "evidence").rglob("*") if p.is_file()}
    assert first == second


def test_report_rebuild_drops_stale_evidence_files(run_dir, key):
    build(run_dir, key, {})
    (run_dir / "evidence" / "stale.txt").write_text("left over")
    build(run_dir, key, {})
    assert not (run_dir / "evidence" / "stale.txt").exists()


def test_signing_key_is_generated_once_with_mode_600(run_dir, key):
    build(run_dir, key, {})
    assert key.stat().st_mode & 0o777 == 0o600
    first = key.read_bytes()
    build(run_dir, key, {})
    assert key.read_bytes() == first
    assert (run_dir / "evidence" / "signing_key.pub.pem").read_text().startswith("-----BEGIN PUBLIC KEY-----")


def test_trend_orders_runs_by_start_and_writes_table_png_and_json(tmp_path, key):
    reports = tmp_path / "reports"
    make_run(reports, run_id="run-b", started_at="2025-11-26T18:00:00.000Z")
    make_run(reports, run_id="run-a", started_at="2025-11-25T18:00:00.000Z")
    later = json.loads((reports / "run-b" / "results.json").read_text())
    later[0]["rto_seconds"] = 42.5
    (reports / "run-b" / "results.json").write_text(json.dumps(later))
    (reports / "just-a-load").mkdir()  # a `drill load` directory: no results.json, passed over
    text, png, data = write_trend(reports)
    [row] = [line for line in text.splitlines() if line.startswith("primary_freeze")]
    assert row.split()[1:4] == ["2", "passed", "42.5"]  # two runs; the last (run-b, started later) has 42.5 s
    assert "oldest 2025-11-25T18:00 (run-a)" in text and "newest 2025-11-26T18:00 (run-b)" in text
    assert png.read_bytes().startswith(PNG) and png.stat().st_size > 10_000
    points = json.loads(data.read_text())
    assert [p["run_id"] for p in points if p["scenario"].startswith("failover")] == ["run-a", "run-b"]
    first = next(p for p in points if p["run_id"] == "run-a" and p["scenario"].startswith("failover"))
    assert read_results(reports / "run-a")[0].rto_seconds == pytest.approx(first["rto_seconds"])


def test_allure_html_is_generated_where_allure_3_is_installed_and_left_out_of_the_manifest(run_dir, key,
                                                                                           monkeypatch):
    from waqiti_drill.report.allure import allure_command

    monkeypatch.delenv("DRILL_ALLURE")

    if allure_command() is None:
        pytest.skip("the npm 'allure' package is not installed (scripts/setup.sh installs it where npm exists)")
    built = build(run_dir, key, {})
    assert built.allure_line.startswith("allure: HTML report in"), built.allure_line
    assert (run_dir / "allure-report" / "index.html").is_file()
    # Allure 3.18 copies each attachment into data/attachments: the six reached the HTML report.
    assert len(list((run_dir / "allure-report" / "data" / "attachments").iterdir())) == 6
    files = json.loads((run_dir / "evidence" / "MANIFEST.json").read_text())["files"]
    assert not any(f.startswith("allure-report/") for f in files)
    assert any(f.startswith("allure-results/") and f.endswith("-attachment.png") for f in files)


def test_without_allure_results_the_allure_html_is_skipped_with_a_reason(tmp_path, key, monkeypatch):
    monkeypatch.delenv("DRILL_ALLURE")
    run_dir = make_run(tmp_path / "reports", with_allure=False)
    built = build(run_dir, key, {})
    assert built.allure_line == f"allure: skipped, no {run_dir / 'allure-results'}"


def test_without_the_allure_tool_the_html_is_skipped_with_a_reason(run_dir, key, monkeypatch):
    monkeypatch.setenv("DRILL_ALLURE", "")
    built = build(run_dir, key, {})
    assert built.allure_line.startswith("allure: skipped, the npm 'allure' package (Allure 3) is not installed")
    assert not (run_dir / "allure-report").exists()


def test_throughput_is_per_service_so_a_postgres_outage_is_not_hidden_by_redis(tmp_path):
    from tests.histories import FAULT_WALL, HistoryBuilder
    from waqiti_drill.report.model import throughput

    h = HistoryBuilder(tmp_path / "history")
    h.fault("primary_freeze", "pg1")
    h.steady("transfer", -3, 0, every=0.5)
    h.steady("transfer", 5, 8, every=0.5)
    h.op("transfer", 1.2, 2.1, outcome="info", proc="w2")
    h.steady("session", -3, 8, every=0.25, proc="w3")
    series = throughput(h.build(), FAULT_WALL)
    assert series.seconds == list(range(-3, 8))
    pg, redis = series.ok["postgres"], series.ok["redis"]
    at = series.seconds.index
    assert [pg[at(t)] for t in (-1, 0, 1, 2, 3, 4, 5)] == [2, 0, 0, 0, 0, 0, 2]
    assert series.errors["postgres"][at(2)] == 1 and sum(series.errors["redis"]) == 0
    assert all(redis[at(t)] == 4 for t in range(-3, 8))


REAL_ALLURE = Path(__file__).resolve().parents[1] / "data" / "allure-pytest-bdd-2.16"


def test_attachments_land_on_the_right_results_of_real_allure_pytest_bdd_output(tmp_path, key):
    """Result files recorded from allure-pytest-bdd 2.16.2 (pytest-bdd 9.0.1): failover.feature has
    "Primary freeze" and an outline "Kill <what>" (primary, replica); deployment.feature also has a
    scenario named "Primary freeze", which must not get the failover scenario's attachments."""
    run_dir = make_run(tmp_path / "reports", with_allure=False)
    shutil.copytree(REAL_ALLURE, run_dir / "allure-results")
    results = json.loads((run_dir / "results.json").read_text())
    results[1].update(feature="failover", scenario="Kill <what>")
    (run_dir / "results.json").write_text(json.dumps(results))
    build(run_dir, key, {})
    attached = {}
    for path in (run_dir / "allure-results").glob("*-result.json"):
        data = json.loads(path.read_text())
        attached[(data["fullName"])] = sorted(a["name"] for a in data.get("attachments", []))
    assert len(attached["t/failover.feature:Primary freeze"]) == 6
    assert attached["t/deployment.feature:Primary freeze"] == []
    assert attached["t/failover.feature:Kill primary"] == attached["t/failover.feature:Kill replica"] == []
    # The second scenario has no history, journal or check: nothing to attach, but it matched both rows.
    from waqiti_drill.report.allure import _matches

    rows = [json.loads(p.read_text()) for p in (run_dir / "allure-results").glob("*-result.json")]
    assert sorted(r["name"] for r in rows if _matches(r, "Kill <what>", "failover")) == ["Kill primary",
                                                                                         "Kill replica"]


def test_a_signing_key_readable_by_others_is_refused(run_dir, key):
    from waqiti_drill.errors import InvalidConfig

    build(run_dir, key, {})
    key.chmod(0o644)
    with pytest.raises(InvalidConfig, match="readable by others"):
        build(run_dir, key, {})


def test_the_report_names_its_signing_key_and_the_secrets_it_was_scanned_for(run_dir, key):
    from waqiti_drill.report.manifest import fingerprint, load_or_create_key

    build(run_dir, key, {"postgres_password": "not-in-the-run-anywhere"})
    doc = json.loads((run_dir / "evidence" / "report.json").read_text())
    expected = fingerprint(load_or_create_key(key).public_key())
    assert doc["integrity"]["signing_key_fingerprint"] == expected
    assert doc["integrity"]["secrets_scanned_for"] == 1
    assert expected in (run_dir / "evidence" / "report.html").read_text()
    assert json.loads((run_dir / "evidence" / "MANIFEST.json").read_text())["public_key_fingerprint"] == expected
