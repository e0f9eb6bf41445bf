"""Restores from the repository against the real stack, judged by what clients wrote.

- a copy restored to a point in time, under ledger load, holds every transfer acknowledged before it
  and none invoked after it; the newest set restores to its consistent point; the live database is
  untouched and the copy never archives into the repository;
- the repository cannot be read with another cipher passphrase;
- the loss of every member, its disk and its DCS state is recovered from the object store alone, with
  RTO and RPO measured from the history within the spec's 15 minutes and 1 hour.
"""

from __future__ import annotations

import time

import psycopg
import pytest

from tests.integration.stackutil import AckedWrites, faults_configuration
from waqiti_drill.checker import check
from waqiti_drill.checker.pitr import judge_point_in_time
from waqiti_drill.config import Targets
from waqiti_drill.faults import actions, health
from waqiti_drill.faults.ledger import FaultLedger
from waqiti_drill.platform.local import atrest
from waqiti_drill.platform.local.disks import disks_enabled, image_path
from waqiti_drill.timefmt import parse_utc, utc_iso
from waqiti_drill.workload import ledger
from waqiti_drill.workload.runner import LoadSpec
from waqiti_drill.workload.session import LoadSession

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _tids(kwargs: dict, run_id: str) -> set[int]:
    with psycopg.connect(**kwargs, autocommit=True, connect_timeout=10) as conn:
        return {tid for chunk in ledger.transferred_ids(conn, run_id) for tid in chunk}


def test_point_in_time_restore_holds_exactly_the_writes_acknowledged_before_the_target(stack, tmp_path):
    platform = stack.platform()
    archived_before = {b.label: b.wal_stop for b in platform.list_backups()}
    with LoadSession(platform, tmp_path, LoadSpec(profile="steady", users=4, services=("postgres",))) as session:
        writes = AckedWrites(session.history_dir)
        writes.wait_more(100)
        backup = platform.backup("full")
        writes.wait_more(200)
        target = time.time()
        writes.wait_more(200)
        platform.archive_wal()  # the WAL holding the target is in the repository
    session.read_back()
    try:
        info = platform.restore_copy(utc_iso(target))
        assert info.backup.label == backup.label and info.target == "waqiti_restored"
        copy = _tids(platform.restore_connect_kwargs(), session.run_id)
        verdict = judge_point_in_time(session.history_dir, copy, target)
        print(f"PITR: restored in {info.seconds:.1f}s; {verdict.acked_before} acknowledged before the target, "
              f"{verdict.invoked_after} invoked after, {verdict.in_flight} in flight, {verdict.present} in the copy")
        assert verdict.passed, verdict.problems()
        assert verdict.invoked_after > 0, "writes went on after the target, so the test can tell"
        live = _tids(platform.postgres_connect_kwargs(), session.run_id)
        assert copy < live, "the live database still holds everything, the copy only what came before"

        latest = platform.restore_copy(None)
        assert latest.recovery_target == "immediate" and latest.backup.label == backup.label
        at_backup = _tids(platform.restore_connect_kwargs(), session.run_id)
        assert at_backup <= copy and at_backup, "the set's consistent point is before the target"
        if disks_enabled():  # the copy is production data: encrypted at rest like the members
            [restored] = [v for v in atrest.view(platform.settings) if v.name == "restore"]
            assert restored.encrypted and len(restored.directories) == 3, restored
    finally:
        platform.drop_restore_copy()
    if disks_enabled():  # dropped with its image and key
        assert not image_path(platform.settings, "restore").exists()
        assert not (platform.settings.state_dir / "keys" / "restore.key").exists()
    after = {b.label: b.wal_stop for b in platform.list_backups()}
    assert set(after) == set(archived_before) | {backup.label}, "the copies took no backups"
    assert health.problems(platform) == []


def test_the_repository_cannot_be_read_without_its_cipher_passphrase(stack):
    platform = stack.platform()
    if not platform.list_backups():
        platform.backup("full")
    readable, said = platform.backups_readable_with("not-the-passphrase")
    assert not readable and "unable to load info file" in said, said
    readable, said = platform.backups_readable_with(platform.context().secrets.backup_cipher_pass)
    assert readable, said


def test_site_loss_is_recovered_from_the_object_store_within_the_targets(stack, tmp_path):
    platform = stack.platform()
    spec = LoadSpec(profile="steady", users=4, services=("postgres",))
    configuration = faults_configuration(stack, platform, tmp_path)
    with LoadSession(platform, tmp_path, spec) as session:
        writes = AckedWrites(session.history_dir)
        writes.wait_more(100)
        platform.backup("full")
        writes.wait_more(300)
        actions.destroy_postgres_cluster(configuration=configuration)  # the real action: ledger, record, destroy
        assert platform.postgres_lost()
        if disks_enabled():
            assert not any(image_path(platform.settings, m).exists() for m in ("pg1", "pg2", "pg3"))
            assert not any((platform.settings.state_dir / "keys" / f"{m}.key").exists() for m in ("pg1", "pg2", "pg3"))
            assert image_path(platform.settings, "redis").exists(), "Redis is not the site's database"
        assert any("destroyed" in p for p in platform.status().problems)
        info = actions.recover_postgres_from_repository(configuration=configuration)
        writes.wait_more(100)
    session.read_back()
    assert not platform.postgres_lost() and FaultLedger(stack.state_dir).active() == []
    result = check(session.history_dir, Targets())
    pg = result.services["postgres"]
    print(f"site loss: rebuilt in {info['seconds']:.1f}s from {info['backup']}; RTO {pg.rto_seconds:.1f}s, "
          f"RPO {pg.rpo_seconds:.1f}s, {pg.lost} of {pg.acked_writes} acknowledged writes lost")
    assert result.mode == "restore" and result.fault.name == "destroy_postgres_cluster"
    assert pg.rto_seconds is not None and 0 < pg.rto_seconds <= 900
    assert result.fault.wall + pg.rto_seconds > parse_utc(info["started"]), "a write acknowledged before the rebuild?"
    assert pg.rpo_seconds <= 3600
    assert pg.balance_total is not None and pg.balance_total.value == pg.balance_total.expected, "no partial transfer"
    assert pg.unexpected == 0
    assert health.problems(platform) == []
    if disks_enabled():  # rebuilt on new images under new keys, encrypted from the first byte restored
        assert all(v.encrypted for v in atrest.view(platform.settings)), atrest.view(platform.settings)


def test_drill_restore_refuses_a_bad_point_in_time_in_one_line(stack):
    from tests.cli.cliutil import assert_one_line_error

    for bad, said in (("garbage", "not an ISO 8601 instant"), ("2001-01-01T00:00:00Z", "no backup set that finished")):
        assert_one_line_error(stack.drill("restore", "--to", bad), 2, "drill restore: error:", said)
