"""The other replication method: pgBackRest's second repository (repo2) in the backup region's store.

A stack of its own with `[backup_region] replication = "repo2"`: WAL is pushed and backups are taken to
both regions' stores by pgBackRest itself (the scheduled sync copies only the Redis backups). The
primary region is lost and the cluster rebuilt in the backup region from what repo2 holds, then failed
back. Which of the two methods actually restores is what this and test_region.py tell.
"""

from __future__ import annotations

import json
import os
import time

import psycopg
import pytest

from tests.integration.stackutil import StackUnderTest, new_state_dir, shifted_ports_toml
from waqiti_drill.faults import health

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
    try:
        platform.lose_primary_region()
        move = platform.fail_over_region()
        print("failover from repo2:", *move.steps, sep="\n  ")
        # repo2 holds sets of its own (pgBackRest backs up to each repository separately): its newest
        assert move.postgres.backup.type == "full" and move.postgres.backup.label >= backup.label
        with psycopg.connect(**kwargs, autocommit=True, connect_timeout=10) as conn:
            assert conn.execute("SELECT count(*) FROM repo2_rows").fetchone()[0] == 700
            conn.execute("INSERT INTO repo2_rows SELECT generate_series(701, 750)")
    finally:
        t0 = time.monotonic()
        back = platform.fail_back_region()
        print(f"failback in {time.monotonic() - t0:.1f}s:", *(back.steps if back else []), sep="\n  ")
    with psycopg.connect(**kwargs, autocommit=True, connect_timeout=10) as conn:
        assert conn.execute("SELECT count(*) FROM repo2_rows").fetchone()[0] == 750
    assert health.problems(platform) == []
    # The primary's own repo1 (and the set taken to it) went with the region; what came back is the backup
    # region's repo2 copy, so its set is the one listed now, once (repo1 only, not once per repository).
    listed = repo2_stack.drill("backups", "--json")
    labels = [b["label"] for b in json.loads(listed.stdout)]
    assert listed.returncode == 0 and move.postgres.backup.label in labels and len(labels) == len(set(labels)), labels
