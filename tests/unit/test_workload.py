"""Pure parts of the workload: load shapes, outcome classification, recording of one operation."""

from __future__ import annotations

import json

import psycopg
import pytest
import redis

from waqiti_drill.errors import InvalidConfig
from waqiti_drill.workload import ledger, redis_ops
from waqiti_drill.workload.ops import perform
from waqiti_drill.workload.profiles import LoadProfile
from waqiti_drill.workload.recorder import Recorder
from waqiti_drill.workload.runner import LoadSpec


def test_steady_holds_all_users_from_the_start():
    profile = LoadProfile("steady", 12)
    assert [profile.tick(t)[0] for t in (0, 1, 100, 10_000)] == [12, 12, 12, 12]


def test_ramp_grows_linearly_then_holds():
    profile = LoadProfile("ramp", 61)
    assert profile.tick(0)[0] == 1
    assert profile.tick(30)[0] == 31
    assert profile.tick(60)[0] == 61
    assert profile.tick(600)[0] == 61


def test_spike_triples_for_fifteen_seconds_each_minute():
    profile = LoadProfile("spike", 30)
    users = {t: profile.tick(t)[0] for t in (0, 29, 30, 44, 45, 90, 100)}
    assert users == {0: 10, 29: 10, 30: 30, 44: 30, 45: 10, 90: 30, 100: 30}


def test_drill_warms_up_then_holds():
    profile = LoadProfile("drill", 10)
    assert profile.tick(0)[0] == 1
    assert profile.tick(2.5)[0] == 5
    assert profile.tick(5)[0] == 10 == profile.tick(500)[0]


def test_a_duration_ends_the_shape():
    profile = LoadProfile("steady", 3, duration=10)
    assert profile.tick(9.9) == (3, 3.0)
    assert profile.tick(10) is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (LoadSpec(profile="soak"), "unknown load profile 'soak'; known: steady, ramp, spike, drill"),
        (LoadSpec(services=("kafka",)), "unknown service(s) ['kafka']"),
        (LoadSpec(users=0), "users must be >= 1"),
    ],
)
def test_bad_load_specs_are_refused(spec, message):
    with pytest.raises(InvalidConfig, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        spec.check()


def test_user_classes_follow_the_services():
    assert LoadSpec(services=("postgres",)).user_classes() == ["LedgerWriter", "BalanceReader"]


def _pg_error(sqlstate: str) -> psycopg.Error:
    cls = psycopg.errors.lookup(sqlstate)
    return cls("boom")


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (ledger.NotSent("connection refused"), "fail"),
        (_pg_error("23505"), "fail"),  # unique violation: certainly not applied
        (_pg_error("25006"), "fail"),  # read-only transaction: a stale connection to a demoted primary
        (_pg_error("57P01"), "info"),  # admin shutdown: may have committed locally while waiting for sync
        (_pg_error("08006"), "info"),
        (psycopg.OperationalError("server closed the connection unexpectedly"), "info"),
        (TimeoutError("no reply"), "info"),
    ],
)
def test_postgres_outcomes(exc, outcome):
    assert ledger.outcome_of(exc) == outcome


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (redis_ops.NotSent("no startup node"), "fail"),
        (redis.ResponseError("CLUSTERDOWN The cluster is down"), "fail"),
        (redis.ConnectionError("Connection reset by peer"), "info"),
        (redis.TimeoutError("Timeout reading from socket"), "info"),
    ],
)
def test_redis_outcomes(exc, outcome):
    assert redis_ops.outcome_of(exc) == outcome


def _records(tmp_path):
    (path,) = tmp_path.glob("ops-*.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_perform_records_invoke_and_ok_with_the_result(tmp_path):
    rec, reports = Recorder(tmp_path, "p0"), []
    outcome = perform(rec, lambda *a: reports.append(a), "p0-u1", "redis", "127.0.0.1:1", "incr", {"key": "c:1"},
                      lambda: {"result": 7}, redis_ops.outcome_of)
    rec.close()
    invoke, done = _records(tmp_path)
    assert outcome == "ok" and (invoke["type"], done["type"]) == ("invoke", "ok")
    assert invoke["id"] == done["id"] == "p0:1" and done["value"] == {"result": 7}
    assert done["mono"] >= invoke["mono"] and reports[0][3] is None


def test_perform_classifies_an_error_and_keeps_going(tmp_path):
    rec = Recorder(tmp_path, "p0")

    def action() -> None:
        raise redis.ConnectionError("Connection reset by peer")

    assert perform(rec, lambda *a: None, "p0-u1", "redis", "s", "session", {"key": "s:1"}, action,
                   redis_ops.outcome_of) == "info"
    rec.close()
    assert _records(tmp_path)[1]["value"] == {"error": "ConnectionError: Connection reset by peer"}


def test_an_interrupted_operation_is_recorded_as_info_and_the_interrupt_propagates(tmp_path):
    rec = Recorder(tmp_path, "p0")

    def action() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        perform(rec, lambda *a: None, "p0-u1", "postgres", "postgres", "transfer", {"tid": 1}, action,
                ledger.outcome_of)
    rec.close()
    assert [r["type"] for r in _records(tmp_path)] == ["invoke", "info"]
    assert rec.open_ops == 0


def test_a_recorder_that_cannot_write_says_so(tmp_path):
    rec = Recorder(tmp_path, "p0")
    rec.close()
    with pytest.raises(ValueError):
        rec.invoke("p0-u1", "redis", "s", "session", {"key": "s:1"})
    assert rec.failure is not None
