"""RTO, outage window and longest write gap, on synthetic histories with known answers."""

from __future__ import annotations

import pytest

from tests.histories import SHARD_A, SHARD_B, SHARD_C, HistoryBuilder
from waqiti_drill.checker import check, render_table
from waqiti_drill.config import Targets

TARGETS = Targets(rto_seconds=10.0, rpo_seconds=60.0)
approx = pytest.approx


@pytest.fixture
def h(tmp_path):
    return HistoryBuilder(tmp_path / "run")


def transfers_present(h: HistoryBuilder, values: list[dict]) -> None:
    h.final_transfers([v["tid"] for v in values])
    h.final_done("postgres")


def test_freeze_of_five_seconds_gives_rto_five(h):
    h.fault("primary_freeze", "pg1")
    done = h.steady("transfer", -10, 0)  # last acknowledged at -0.24
    # Frozen at 0: writes in flight and writes invoked during the freeze all wait, then are acknowledged at 5.
    done.append(h.op("transfer", -0.05, 5.0, proc="w2"))
    done.append(h.op("transfer", -0.02, 5.0, proc="w3"))
    done += [h.op("transfer", t, 5.0, proc="w4") for t in (0.5, 1.5, 3.0)]
    # A fast write invoked before the outage began and completing just after the fault is not recovery.
    done.append(h.op("transfer", -0.5, 0.1, proc="w5"))
    done += h.steady("transfer", 5.25, 10)
    transfers_present(h, done)
    result = check(h.build(), TARGETS)
    pg = result.services["postgres"]
    assert pg.rto_seconds == approx(5.0, abs=1e-6)
    assert pg.outage is True
    assert pg.outage_began_seconds == approx(-0.05, abs=1e-6)
    assert pg.recovered_seconds == approx(5.0, abs=1e-6)
    assert pg.recovered_at == "2025-11-25T18:00:05.000Z"
    assert pg.affected_writes == 5
    assert pg.longest_write_gap_seconds == approx(4.9, abs=1e-6)  # 0.1 .. 5.0
    assert result.rto_seconds == approx(5.0, abs=1e-6)
    assert result.passed is True and result.problems == []


def test_kill_with_unknown_and_failed_writes_gives_rto_twenty(h):
    h.fault("primary_kill", "pg1")
    done = h.steady("transfer", -10, -0.2)
    # In flight at the kill: the connection drops, outcome unknown.
    lost_in_flight = h.op("transfer", -0.1, 0.05, "info", proc="w2")
    # Concurrent writers: one invoked after it and acknowledged just before the fault is not recovery.
    done.append(h.op("transfer", -0.08, -0.02, proc="w3"))
    for t in range(20):
        h.op("transfer", t + 0.5, t + 0.75, "fail", proc="w4")
    done.append(h.op("transfer", 19.9, 20.0, proc="w5"))
    done += h.steady("transfer", 20.25, 25)
    transfers_present(h, [*done, lost_in_flight])
    result = check(h.build(), Targets(rto_seconds=30, rpo_seconds=60))
    pg = result.services["postgres"]
    assert pg.rto_seconds == approx(20.0, abs=1e-6)
    assert pg.outage_began_seconds == approx(-0.1, abs=1e-6)
    assert pg.affected_writes == 21
    assert (pg.failed, pg.info, pg.recovered, pg.lost) == (20, 1, 1, 0)
    assert pg.longest_write_gap_seconds == approx(20.02, abs=1e-6)  # -0.02 .. 20.0
    assert pg.longest_write_gap.start_seconds == approx(-0.02, abs=1e-6)
    assert pg.longest_write_gap.end_at == "2025-11-25T18:00:20.000Z"
    assert result.passed is True


def test_no_outage_gives_rto_zero(h):
    h.fault("replica_kill", "pg3")
    done = h.steady("transfer", -5, 5)
    transfers_present(h, done)
    pg = check(h.build(), TARGETS).services["postgres"]
    assert pg.rto_seconds == 0.0
    assert pg.outage is False
    assert pg.outage_began_at is None and pg.recovered_at is None
    assert pg.longest_write_gap_seconds == approx(0.25, abs=1e-6)
    assert pg.passed is True


def test_redis_rto_is_the_worst_shard(h):
    h.fault("master_kill", SHARD_B)
    present = []
    present += [v["key"] for v in h.steady("session", -5, 15, proc="a", shard=SHARD_A)]
    present += [v["key"] for v in h.steady("session", -5, 15, proc="c", shard=SHARD_C)]
    # Shard B's writes fail from the fault until its replica takes over at 12 s.
    present += [v["key"] for v in h.steady("session", -5, 0, proc="b", shard=SHARD_B)]
    for t in range(12):
        h.op("session", t + 0.1, t + 0.2, "fail", proc="b", shard=SHARD_B)
    present += [v["key"] for v in h.steady("session", 11.99, 15, proc="b2", shard=SHARD_B)]
    h.final_sessions(present)
    h.final_done("redis")
    result = check(h.build(), TARGETS)
    assert list(result.services) == ["redis"]  # only services that appear are reported
    redis = result.services["redis"]
    assert redis.worst_shard == SHARD_B
    assert redis.rto_seconds == approx(12.0, abs=1e-6)
    assert redis.shards[SHARD_B].rto_seconds == approx(12.0, abs=1e-6)
    for shard in (SHARD_A, SHARD_C):
        assert redis.shards[shard].rto_seconds == 0.0
        assert redis.shards[shard].outage is False
        assert redis.shards[shard].passed is True
    assert redis.shards[SHARD_B].longest_write_gap_seconds == approx(12.24, abs=1e-6)  # -0.24 .. 12.0
    assert redis.longest_write_gap_seconds == approx(0.25, abs=1e-6)  # other shards kept acknowledging
    assert result.passed is False
    assert result.problems == [f"redis shard {SHARD_B}: RTO 12.0s > target 10s"]
    table = render_table(result)
    assert f"  {SHARD_B}" in table and "FAIL" in table and f"PROBLEM: redis shard {SHARD_B}: RTO 12.0s" in table


def test_slow_threshold_decides_whether_a_slow_write_is_an_outage(h):
    h.fault()
    done = h.steady("transfer", -5, 0)
    done.append(h.op("transfer", 0.1, 2.1, proc="w2"))  # 2 s latency
    done += h.steady("transfer", 2.25, 5)
    transfers_present(h, done)
    root = h.build()
    assert check(root, TARGETS, slow_seconds=1.0).services["postgres"].rto_seconds == approx(2.1, abs=1e-6)
    relaxed = check(root, TARGETS, slow_seconds=3.0).services["postgres"]
    assert relaxed.rto_seconds == 0.0 and relaxed.outage is False


def test_no_write_acknowledged_after_the_outage_fails(h):
    h.fault()
    done = h.steady("transfer", -5, 0)
    for t in range(5):
        h.op("transfer", t + 0.5, t + 0.6, "fail", proc="w2")
    transfers_present(h, done)
    result = check(h.build(), TARGETS)
    pg = result.services["postgres"]
    assert pg.rto_seconds is None and result.rto_seconds is None
    assert pg.recovered_at is None
    assert result.passed is False
    assert result.problems == ["postgres: no acknowledged write after the outage began "
                                  "(at 2025-11-25T18:00:00.500Z, +0.5s from the fault)"]
    assert "never" in render_table(result)


def test_incomplete_operation_counts_as_info_and_starts_the_outage(h):
    h.fault()
    done = h.steady("transfer", -5, 0)
    h.op("transfer", -0.3, None, proc="w2")  # invoked, never completed: unknown outcome
    done += h.steady("transfer", 3.0, 5, proc="w3")
    transfers_present(h, done)
    result = check(h.build(), TARGETS)
    pg = result.services["postgres"]
    assert result.incomplete == 1
    assert (pg.info, pg.incomplete, pg.lost, pg.recovered) == (1, 1, 0, 0)
    assert pg.outage_began_seconds == approx(-0.3, abs=1e-6)
    assert pg.rto_seconds == approx(3.01, abs=1e-6)
    assert result.operations == len(done) + 1


def test_a_write_the_harness_cut_short_at_the_end_is_unknown_but_starts_no_outage(h):
    h.fault()
    done = h.steady("transfer", -5, 5)
    cut = h.op("transfer", 5.0, 5.002, "info", proc="w2", interrupted=True)  # the load stopping
    transfers_present(h, done + [cut])
    result = check(h.build(), TARGETS)
    pg = result.services["postgres"]
    assert (pg.info, pg.recovered, pg.lost) == (1, 1, 0), "still an unknown outcome for RPO"
    assert pg.rto_seconds == 0.0 and result.passed, result.problems


def test_an_unknown_outcome_not_caused_by_the_harness_still_starts_the_outage(h):
    h.fault()
    done = h.steady("transfer", -5, 5)
    h.op("transfer", 5.0, 5.002, "info", proc="w2")  # a timeout or a lost connection
    transfers_present(h, done)
    result = check(h.build(), TARGETS)
    assert result.services["postgres"].rto_seconds is None and not result.passed


def test_reads_do_not_count_for_rto(h):
    h.fault()
    done = h.steady("transfer", -5, 5)
    for t in range(5):
        h.op("balance", t + 0.1, t + 0.2, "fail", proc="r1")
    transfers_present(h, done)
    pg = check(h.build(), TARGETS).services["postgres"]
    assert pg.rto_seconds == 0.0
    assert (pg.reads.ok, pg.reads.fail, pg.reads.info) == (0, 5, 0)


def test_faults_are_all_reported_and_the_first_inject_is_the_instant(h):
    h.fault("primary_freeze", "pg1", "inject", at=0.0)
    h.fault("primary_freeze", "pg1", "heal", at=5.0)
    h.fault("replica_kill", "pg2", "inject", at=30.0)
    done = h.steady("transfer", -1, 1)
    transfers_present(h, done)
    result = check(h.build(), TARGETS)
    assert result.fault.name == "primary_freeze"
    assert result.fault.injected_at == "2025-11-25T18:00:00.000Z"
    assert [(f.name, f.phase, f.at, f.seconds) for f in result.faults] == [
        ("primary_freeze", "inject", "2025-11-25T18:00:00.000Z", 0.0),
        ("primary_freeze", "heal", "2025-11-25T18:00:05.000Z", 5.0),
        ("replica_kill", "inject", "2025-11-25T18:00:30.000Z", 30.0),
    ]


def test_a_write_acknowledged_then_lost_is_not_the_recovery(h):
    """The site-loss shape CI saw: the members die over a moment, the dying primary still acknowledges a write
    40 ms after the fault instant, then the cluster is rebuilt from the repository without it. The recovery is
    the first write the rebuilt cluster kept (at +20 s), not that one (which read as RTO 0.04 s)."""
    h.fault("destroy_postgres_cluster", "cluster", rpo_mode="restore")
    kept = h.steady("transfer", -10, -5)
    gone = h.steady("transfer", -5, 0)  # after the last archived WAL: lost with the site
    h.op("transfer", -0.02, 0.01, "fail", proc="w2")  # one member already gone
    gone.append(h.op("transfer", 0.0, 0.04, proc="w3"))  # acknowledged by the dying primary, then lost
    for t in range(19):
        h.op("transfer", t + 0.1, t + 0.6, "fail", proc="w4")
    kept += h.steady("transfer", 20.0, 25, proc="w5")
    transfers_present(h, kept)
    result = check(h.build(), Targets(rto_seconds=900, rpo_seconds=3600), mode="restore")
    pg = result.services["postgres"]
    assert pg.lost == len(gone)
    assert pg.outage_began_seconds == approx(-0.02, abs=1e-6)
    assert pg.recovered_seconds == approx(20.01, abs=1e-6)
    assert pg.rto_seconds == approx(20.01, abs=1e-6)


def test_without_the_lost_write_rule_the_same_history_reads_rto_zero(h):
    """The rule above is what tells: the same acknowledgement, kept by the final read, is a recovery."""
    h.fault("destroy_postgres_cluster", "cluster", rpo_mode="restore")
    kept = h.steady("transfer", -10, 0)
    h.op("transfer", -0.02, 0.01, "fail", proc="w2")
    kept.append(h.op("transfer", 0.0, 0.04, proc="w3"))
    kept += h.steady("transfer", 20.0, 25, proc="w5")
    transfers_present(h, kept)
    pg = check(h.build(), Targets(rto_seconds=900, rpo_seconds=3600), mode="restore").services["postgres"]
    assert pg.rto_seconds == approx(0.04, abs=1e-6)
