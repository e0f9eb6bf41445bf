"""The drill suite's pure logic: results.json records from a real checker result, slugs, tag expressions,
and the unit-aware comparison of the deployment feature."""

from __future__ import annotations

import json

import pytest

from tests.histories import FAULT_WALL, HistoryBuilder
from waqiti_drill.checker import check
from waqiti_drill.config import Targets as CheckTargets
from waqiti_drill.errors import InvalidConfig
from waqiti_drill.results import Paths, Targets, read_results, to_json
from waqiti_drill.suite.conformance import canonical, same
from waqiti_drill.suite.records import Observed, build_result, one_line, slug, unique_slug
from waqiti_drill.suite.tags import KNOWN_TAGS, check_expression
from waqiti_drill.timefmt import utc_iso


def seen(status: str = "passed", error: str | None = None) -> Observed:
    return Observed(feature="PostgreSQL failover", scenario="crash [killed]", tags=["quarterly", "nightly"],
                    status=status, targets=Targets(900.0, 3600.0), error=error, data_validated=FAULT_WALL + 60,
                    paths=Paths(dir="scenarios/x"))


def crash_history(tmp_path, lose: int = 0):
    """A 5 s write outage from the fault, `lose` acknowledged transfers missing from the final read."""
    h = HistoryBuilder(tmp_path / "run")
    h.fault("kill_member", "pg1")
    before = h.steady("transfer", -10, 0)
    h.op("transfer", -0.05, 1.0, "fail")  # in flight when the fault hit: the outage, as a client saw it
    after = [h.op("transfer", 0.2, 5.0)] + h.steady("transfer", 5.25, 10)  # held, then acknowledged at +5 s
    h.final_transfers([v["tid"] for v in before[lose:] + after])
    h.final_done("postgres")
    return check(h.build(), CheckTargets())


def test_result_carries_the_checker_figures_and_timeline(tmp_path):
    result = build_result(seen(), crash_history(tmp_path))
    assert result.rto_seconds == pytest.approx(5.0, abs=0.3)
    assert (result.rpo_seconds, result.lost_writes, result.recovered_writes) == (0.0, 0, 0)
    assert result.acked_writes == 60
    assert result.fault.name == "kill_member" and result.fault.target == "pg1"
    assert result.fault.injected_at == utc_iso(FAULT_WALL) == result.timeline.fault_injected
    timeline = result.timeline
    assert timeline.writable_again is not None and timeline.writable_again > timeline.fault_injected
    assert timeline.failure_detected == timeline.fault_injected  # the first failed write was invoked before it
    assert result.timeline.data_validated == utc_iso(FAULT_WALL + 60)
    assert result.tags == ["nightly", "quarterly"] and result.deviations == []
    assert result.measurements["postgres: lost"] == 0
    assert result.measurements["postgres: outage_seconds"] == pytest.approx(5.05, abs=0.05)  # invoked -0.05 s


def test_lost_writes_and_a_failed_step_become_deviations(tmp_path):
    result = build_result(seen("failed", "Then no acknowledged write is lost (line 9): 3 lost"),
                          crash_history(tmp_path, lose=3))
    assert result.lost_writes == 3 and result.rpo_seconds > 0
    assert result.deviations[-1] == "failed step: Then no acknowledged write is lost (line 9): 3 lost"


def test_a_scenario_without_a_fault_has_no_figures():
    result = build_result(seen(), None)
    assert result.rto_seconds is None and result.fault is None and result.timeline.fault_injected is None


def test_records_round_trip_through_the_results_contract(tmp_path):
    record = build_result(seen(), crash_history(tmp_path))
    (tmp_path / "results.json").write_text(json.dumps([to_json(record)]))
    assert read_results(tmp_path) == [record]


def test_slugs():
    assert slug("/x/features/failover.feature", "The primary is lost!", {"fault": "cut off the network"}) == \
        "failover--the-primary-is-lost--cut-off-the-network"
    assert len(slug("a.feature", "x" * 500)) <= 80
    taken: set[str] = set()
    assert [unique_slug("a", taken) for _ in range(3)] == ["a", "a-2", "a-3"]


def test_one_line():
    assert one_line("assert 1 == 2\n  where ...\n") == "assert 1 == 2"
    assert len(one_line("x" * 1000)) == 400


@pytest.mark.parametrize(("expr", "marker"), [
    ("nightly", "nightly"), ("@nightly", "nightly"), ("quarterly and not slow", "quarterly and not slow"),
    ("(primary_crash or @redis_master_failover) and destructive", "( primary_crash or redis_master_failover ) and "
     "destructive"),
])
def test_tag_expressions(expr, marker):
    assert check_expression(expr) == marker


@pytest.mark.parametrize("expr", ["", "nigthly", "nightly and", "and nightly", "(nightly", "nightly)", "a-b",
                                  "nightly slow", "not"])
def test_bad_tag_expressions(expr):
    with pytest.raises(InvalidConfig):
        check_expression(expr)


def test_every_fault_tag_the_brief_names_is_registered():
    for tag in ("nightly", "quarterly", "destructive", "slow", "primary_crash", "primary_isolation",
                "primary_freeze", "sync_standby_loss", "switchover", "dcs_outage", "redis_master_failover",
                "redis_reshard", "pitr", "site_loss"):
        assert tag in KNOWN_TAGS


@pytest.mark.parametrize(("expected", "actual"), [
    ("256MB", "256MB"), ("1GB", "1024MB"), ("1000ms", "1s"), ("1GB", "1073741824B"), ("on", "ON"), ("0.9", "0.90"),
    ("200", "200"), ("0 2 * * 0", "0 2 * * 0"),
])
def test_same_quantity(expected, actual):
    assert same(expected, actual)


@pytest.mark.parametrize(("expected", "actual"), [("256MB", "128MB"), ("1000ms", "1min"), ("on", "off"),
                                                  ("1GB", "1073741824"), ("200", "100")])
def test_different_quantity(expected, actual):
    assert not same(expected, actual)


def test_canonical_forms():
    assert canonical("4MB") == "4194304B" and canonical("1s") == "1000ms" and canonical("allkeys-lru") == "allkeys-lru"


def test_backups_a_step_used_reach_the_record():
    from waqiti_drill.results import BackupUsed

    observed = seen()
    observed.backups.append(BackupUsed(label="20261201-080000F", type="full", wal_start="A", wal_stop="B"))
    assert build_result(observed, None).backups[0].label == "20261201-080000F"
