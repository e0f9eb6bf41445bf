"""The conditions the monitoring drills induce, for real, and `drill heal` undoing what a killed drill left:
WAL replay paused on a replica (its lag grows under writes), a member's disk filled past 85 %, client
connections held near max_connections. Each is seen by the exporters; one heal undoes all three."""

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


def test_conditions_are_seen_and_one_heal_undoes_them_all(stack):
    platform = stack.platform()
    replica, primary = member_with(platform, "replica"), member_with(platform, "primary")

    platform.pause_replay(replica)
    assert platform.replay_paused() == [replica]
    write_for(platform, 8)
    wait_until(lambda: (metric(platform, "waqiti_pg_replication_lag_seconds").get(replica, 0) > 4,
                        metric(platform, "waqiti_pg_replication_lag_seconds")), 30, f"lag on {replica} > 4 s")

    held = platform.hold_connections(primary, 0.95)
    assert held > 150 and platform.connections_held() == [primary]
    ratio = "waqiti_pg_connections_client_backends / waqiti_pg_connections_available"
    wait_until(lambda: (metric(platform, ratio).get(primary, 0) > 0.9, metric(platform, ratio)), 30,
               f"more than 90 % of {primary}'s client connections in use")

    if os.geteuid() == 0:
        written = platform.fill_disk_to(replica, 90)
        assert written > 0
        used = '100 * (1 - node_filesystem_avail_bytes / node_filesystem_size_bytes)'
        wait_until(lambda: (89 <= metric(platform, used).get(replica, 0) <= 91, metric(platform, used)), 30,
                   f"{replica}'s filesystem 90 % used")
        assert platform.fill_disk_to(replica, 85) == 0  # already past it: nothing more written

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
    wait_until(lambda: (metric(platform, "waqiti_pg_replication_lag_seconds").get(replica, 1) == 0,
                        metric(platform, "waqiti_pg_replication_lag_seconds")), 30, f"{replica} to catch up")


def test_refusals(stack):
    platform = stack.platform()
    primary = member_with(platform, "primary")
    with pytest.raises(Exception, match="it is the primary"):
        platform.pause_replay(primary)
    with pytest.raises(Exception, match="between 0 and 1"):
        platform.hold_connections(primary, 1.5)
    with pytest.raises(Exception, match="between 0 and 100"):
        platform.fill_disk_to(primary, 100)
