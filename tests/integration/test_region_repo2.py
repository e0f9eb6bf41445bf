"""The other replication method: pgBackRest's second repository (repo2) in the backup region's store.

A stack of its own with `[backup_region] replication = "repo2"`: WAL is pushed and backups are taken to
both regions' stores by pgBackRest itself (the scheduled sync copies only the Redis backups). The
primary region is lost and the cluster rebuilt in the backup region from what repo2 holds (the failback
is test_region.py's). Which of the two methods actually restores is what this and test_region.py tell. `drill down` from
the failed-over state is checked here too (that test fails over by itself when run alone).
"""

from __future__ import annotations

import json
import os

import psycopg
import pytest

from tests.integration.stackutil import StackUnderTest, new_state_dir, shifted_ports_toml

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def repo2_stack() -> StackUnderTest:
    base = new_state_dir("wd-it-repo2-")
    config = base / "drill.toml"
    config.write_text(shifted_ports_toml(2000) + '\n[backup_region]\nreplication = "repo2"\n')
    env = dict(os.environ, DRILL_STATE_DIR=str(base / "state"), DRILL_CONFIG=str(config))
    sut = StackUnderTest(env=env, state_dir=base / "state", config=config)
    up = sut.drill("up", timeout=600)
    if up.returncode != 0:
        sut.drill("down", "--purge")
        pytest.fail(f"drill up failed ({up.returncode}): {up.stderr.strip()}")
    yield sut
    sut.drill("down", "--purge")


def test_the_backup_region_restores_from_pgbackrest_repo2(repo2_stack):
    platform = repo2_stack.platform()
    kwargs = platform.postgres_connect_kwargs()
    with psycopg.connect(**kwargs, autocommit=True) as conn:
        conn.execute("CREATE TABLE repo2_rows (n int PRIMARY KEY)")
        conn.execute("INSERT INTO repo2_rows SELECT generate_series(1, 500)")
    backup = platform.backup("full")
    with psycopg.connect(**kwargs, autocommit=True) as conn:
        conn.execute("INSERT INTO repo2_rows SELECT generate_series(501, 700)")
    platform.archive_wal()  # pushed to both repositories by archive-push itself: no sync involved
    lag = platform.replication_status()
    print(f"repo2: {lag}")
    assert lag.method == "repo2" and lag.segments_behind == 0, "archive-push wrote the backup region's copy itself"
    platform.lose_primary_region()
    move = platform.fail_over_region()
    print("failover from repo2:", *move.steps, sep="\n  ")
    # repo2 holds sets of its own (pgBackRest backs up to each repository separately): its newest
    assert move.postgres.backup.type == "full" and move.postgres.backup.label >= backup.label
    with psycopg.connect(**kwargs, autocommit=True, connect_timeout=10) as conn:
        assert conn.execute("SELECT count(*) FROM repo2_rows").fetchone()[0] == 700
    listed = repo2_stack.drill("backups", "--json")  # the backup region's repository now: listed once each
    labels = [b["label"] for b in json.loads(listed.stdout)]
    assert listed.returncode == 0 and move.postgres.backup.label in labels and len(labels) == len(set(labels)), labels
    # No failback here: test_region.py drills it; this stack is purged from the failed-over state, which
    # `drill down` must handle too (both regions' processes, namespaces and disks).


def _failed_over(sut: StackUnderTest) -> None:
    """The platform serving from the backup region, whatever state the module's stack is in: the test before
    leaves it so, but a test run alone (or after that one failed half-way) brings it there itself."""
    platform = sut.platform()
    status = platform.region_status()
    if status.active == status.backup:
        return
    if status.lost is None:  # as the test before does: a set and its WAL in repo2, then the loss
        platform.backup("full")
        platform.archive_wal()
        platform.lose_primary_region()
    platform.fail_over_region()


def test_down_from_the_failed_over_state_leaves_nothing(repo2_stack):
    _failed_over(repo2_stack)
    platform = repo2_stack.platform()
    assert platform.region_status().active == repo2_stack.settings.region.backup
    result = repo2_stack.drill("down")
    assert result.returncode == 0, result.stderr
    assert platform.supervisor.pids_under(repo2_stack.state_dir) == []
    from waqiti_drill.platform.local.disks import mounts_under

    assert mounts_under(repo2_stack.state_dir) == []
