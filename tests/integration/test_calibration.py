"""Calibration: the checker's numbers against faults whose true effect is known in advance.

- a 5 s SIGSTOP of the primary (shorter than any failover timeout) is a 5 s write outage;
- N acknowledged transfers deleted behind the harness's back are exactly N lost writes, and RPO is
  the deletion instant minus the acknowledgement of the oldest of them;
- a planned switchover in synchronous mode loses nothing: 0 lost, RPO 0.
"""

from __future__ import annotations

import json

import psycopg
import pytest

from tests.integration.stackutil import AckedWrites, faults_configuration
from waqiti_drill.checker import check
from waqiti_drill.config import Targets
from waqiti_drill.faults import actions
from waqiti_drill.history import record_fault
from waqiti_drill.platform.local.patroni import PatroniCluster
from waqiti_drill.waiting import wait_until
from waqiti_drill.workload.runner import LoadSpec
from waqiti_drill.workload.session import LoadSession

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FREEZE_SECONDS = 5.0


def _primary(platform) -> str:
    return next(m.name for m in platform.postgres_members() if m.role == "primary")


def test_a_five_second_freeze_of_the_primary_is_measured_as_five_seconds(stack, tmp_path):
    platform = stack.platform()
    primary = _primary(platform)
    configuration = faults_configuration(stack, platform, tmp_path)
    with LoadSession(platform, tmp_path, LoadSpec(profile="steady", users=8, services=("postgres",))) as session:
        writes = AckedWrites(session.history_dir)
        writes.wait_more(200)
        done = actions.freeze_member(primary, FREEZE_SECONDS, configuration=configuration)  # the real action
        writes.wait_more(200)
    session.read_back()
    assert done["fault"] == "freeze_member" and done["target"] == primary
    result = check(session.history_dir, Targets())
    pg = result.services["postgres"]
    print(f"calibration: 5 s freeze measured as RTO {pg.rto_seconds:.3f} s")
    assert pg.outage is True
    assert pg.rto_seconds == pytest.approx(FREEZE_SECONDS, abs=0.25), pg
    assert pg.lost == 0 and pg.unexpected == 0
    assert _primary(platform) == primary, "a 5 s freeze is shorter than the failover timeout"
    PatroniCluster(platform.context()).wait_healthy(60)


def _rows_older_than_a_second(conn: psycopg.Connection, run_id: str, wanted: int) -> tuple[bool, int]:
    count = conn.execute(
        "SELECT count(*) FROM transfers "
        "WHERE run_id = %(run)s AND created_at < clock_timestamp() - interval '1 second'",
        {"run": run_id},
    ).fetchone()[0]
    return count >= wanted, count


def test_deleted_acknowledged_rows_are_reported_as_exactly_that_many_lost(stack, tmp_path):
    platform = stack.platform()
    deleted_count = 25
    with LoadSession(platform, tmp_path, LoadSpec(profile="steady", users=6, services=("postgres",))) as session:
        writes = AckedWrites(session.history_dir)
        writes.wait_more(300)
        with psycopg.connect(**platform.postgres_connect_kwargs(), autocommit=True) as conn:
            # 300 acknowledged writes can take well under a second: wait on the condition the deletion
            # needs (enough rows over a second old), not on a count that only usually implies it.
            wait_until(lambda: _rows_older_than_a_second(conn, session.run_id, deleted_count), 60,
                       f"{deleted_count} of the run's transfers to be over a second old")
            # Rows committed more than a second ago: their acknowledgements are certainly recorded.
            rows = conn.execute(
                "DELETE FROM transfers WHERE run_id = %(run)s AND tid IN (SELECT tid FROM transfers "
                "WHERE run_id = %(run)s AND created_at < clock_timestamp() - interval '1 second' "
                "ORDER BY random() LIMIT %(n)s) RETURNING tid",
                {"run": session.run_id, "n": deleted_count},
            ).fetchall()
        # Not a fault of the registry: the test's own deletion behind the harness's back, recorded by hand.
        fault = record_fault(session.history_dir, "rows_deleted", "transfers", "inject", rows=len(rows))
        writes.wait_more(100)
    session.read_back()
    deleted = {row[0] for row in rows}
    assert len(deleted) == deleted_count

    acks: dict[int, float] = {}
    invoked: dict[str, int] = {}
    for path in session.history_dir.glob("ops-*.jsonl"):
        for line in path.read_text().splitlines():
            op = json.loads(line)
            if op["f"] != "transfer":
                continue
            if op["type"] == "invoke":
                invoked[op["id"]] = op["value"]["tid"]
            elif op["type"] == "ok":
                acks[invoked[op["id"]]] = op["wall"]
    assert deleted <= set(acks), "only acknowledged rows were deleted"
    expected_rpo = fault.wall - min(acks[t] for t in deleted)

    pg = check(session.history_dir, Targets()).services["postgres"]
    assert pg.lost == deleted_count
    assert pg.rpo_seconds == pytest.approx(expected_rpo, abs=0.001)
    assert pg.unexpected == 0


def test_a_planned_switchover_in_synchronous_mode_loses_nothing(stack, tmp_path):
    platform = stack.platform()
    old = _primary(platform)
    configuration = faults_configuration(stack, platform, tmp_path)
    with LoadSession(platform, tmp_path, LoadSpec(profile="steady", users=8)) as session:
        writes = AckedWrites(session.history_dir)
        writes.wait_more(200)
        done = actions.switchover(configuration=configuration)  # recorded as the request goes out
        PatroniCluster(platform.context()).wait_healthy(60)
        writes.wait_more(200)
    session.read_back()
    assert _primary(platform) != old and done["target"] == old
    result = check(session.history_dir, Targets())
    print(f"calibration: switchover write outage {result.services['postgres'].rto_seconds:.3f} s")
    for name in ("postgres", "redis"):
        service = result.services[name]
        assert service.lost == 0 and service.rpo_seconds == 0 and service.unexpected == 0, service
        assert service.acked_writes > 100
    assert (result.services["postgres"].rto_seconds or 0) < 30
    assert result.passed is True, result.problems
