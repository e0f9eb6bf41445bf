"""The conditions the monitoring drills induce, for real, and `drill heal` undoing what a killed drill left
outside the ledger: WAL replay stopped on a replica, a member's disk filled past 85 %, client connections
held near max_connections; one heal undoes all three. (features/monitoring.feature measures each condition
through its alert.)"""

from __future__ import annotations

import os
import time

import psycopg
import pytest

from waqiti_drill.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def metric(platform, expr: str) -> dict[str, float]:
    return {r["metric"].get("member", ""): float(r["value"][1]) for r in platform._monitoring().prometheus.query(expr)}


def member_with(platform, role: str) -> str:
    return next(m.name for m in platform.postgres_members() if m.role == role)


def write_for(platform, seconds: float) -> None:
    with psycopg.connect(**platform.postgres_connect_kwargs(), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS monitoring_probe (at timestamptz)")
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            conn.execute("INSERT INTO monitoring_probe VALUES (now())")
            time.sleep(0.1)


def test_conditions_left_by_a_killed_drill_are_undone_by_one_heal(stack):
    """What a killed drill leaves outside the ledger (the monitoring drills measure these conditions through
    the alerts; here only the sweep matters): a stalled replay, held connections, a disk filled past 85 %."""
    platform = stack.platform()
    replica, primary = member_with(platform, "replica"), member_with(platform, "primary")

    platform.pause_replay(replica)
    assert platform.replay_paused() == [replica]
    write_for(platform, 1)
    held = platform.hold_connections(primary, 0.95)
    assert held > 150 and platform.connections_held() == [primary]
    ratio = "waqiti_pg_connections_client_backends / waqiti_pg_connections_available"
    if os.geteuid() == 0:
        assert platform.fill_disk_to(replica, 90) > 0
        assert platform.fill_disk_to(replica, 85) == 0  # already past it: nothing more written
        assert platform.disk_faults() == [replica]

    status = stack.drill("status")
    assert f"WAL replay paused on {replica}" in status.stdout and f"connections held on {primary}" in status.stdout

    # The drill that made these is gone (nothing of it runs in this process): the heal alone undoes them.
    healed = stack.drill("heal", timeout=600)
    assert healed.returncode == 0, healed.stderr
    # the stopped startup process is resumed with every stopped process of the stack; the holder is ended
    assert f"state/pg/{replica}/data)" in healed.stdout, healed.stdout
    assert f"the connections held on {primary} (released)" in healed.stdout, healed.stdout
    assert platform.replay_paused() == [] and platform.connections_held() == [] and platform.disk_faults() == []
    wait_until(lambda: (metric(platform, ratio).get(primary, 1) < 0.2, metric(platform, ratio)), 30,
               "the held connections to be gone")


def test_refusals(stack):
    platform = stack.platform()
    primary = member_with(platform, "primary")
    with pytest.raises(Exception, match="it is the primary"):
        platform.pause_replay(primary)
    with pytest.raises(Exception, match="between 0 and 1"):
        platform.hold_connections(primary, 1.5)
    with pytest.raises(Exception, match="between 0 and 100"):
        platform.fill_disk_to(primary, 100)
