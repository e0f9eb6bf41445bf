"""The typed views the region steps read the actions' results through: built from what the real actions return
(called in-process on a fake platform), and a result that lacks a key is one error naming the action and key."""

from __future__ import annotations

import json

import pytest

from tests.fakeplatform import adopted
from waqiti_drill.faults import actions
from waqiti_drill.faults.outcomes import (
    ActionResultError,
    BackupsReplicated,
    FailedOver,
    RedisBackupTaken,
    RedisRestarted,
    RegionLost,
)
from waqiti_drill.timefmt import parse_utc


def test_the_views_read_what_the_actions_really_return(tmp_path):
    _platform, conf = adopted(tmp_path, tmp_path)
    taken = RedisBackupTaken.of(actions.take_redis_backup(configuration=conf))
    assert (taken.label, taken.keys) == ("20251201T075500Z-000R", 42)
    synced = BackupsReplicated.of(actions.replicate_backups_now(configuration=conf))
    assert (synced.method, synced.lag_seconds) == ("sync", 12.5)

    done = actions.region_loss(configuration=conf)
    json.dumps(done)  # the action's result stays JSON-able for chaostoolkit's journal
    lost = RegionLost.of(done)
    assert lost.at == parse_utc(done["injected_at"])
    before = lost.replication
    assert (before.method, before.segments_behind, before.lag_seconds) == ("sync", 1, 12.5)
    assert lost.archive_lag_seconds == round(lost.at - parse_utc("2025-12-01T07:59:50.000Z"), 3)

    moved = FailedOver.of(actions.fail_over_to_backup_region(60, configuration=conf))
    assert (moved.from_region, moved.to_region, moved.backup, moved.redis_keys_restored, moved.seconds) == (
        "us-west-2", "us-east-1", "20251201-075000F", 42, 150.0)
    loss = parse_utc("2025-12-01T08:00:00Z")
    assert moved.set_age_at(loss) == 596.0  # the set stopped at 07:50:04
    assert moved.redis_backup_age_at(loss) == 300.0
    assert RedisRestarted.of(actions.restart_redis_cluster(30, configuration=conf)).seconds >= 0


def test_no_archived_wal_and_no_redis_backup_are_none_not_errors():
    lost = RegionLost.of({"injected_at": "2025-12-01T08:00:00.000Z", "destroyed": [], "replication_before_loss": {
        "method": "repo2", "primary_newest_wal": None, "backup_newest_wal": None, "segments_behind": 0,
        "lag_seconds": 0.0, "primary_newest_wal_at": None}})
    assert lost.archive_lag_seconds is None
    moved = FailedOver.of({"from": "a", "to": "b", "backup": "F", "backup_stop": "2025-12-01T07:00:00Z",
                           "redis_backup": None, "redis_backup_start": None, "redis_keys_restored": 0, "seconds": 1})
    assert moved.redis_backup_age_at(lost.at) is None and moved.set_age_at(lost.at) == 3600.0


def test_a_result_lacking_a_key_is_one_error_naming_the_action_and_the_key():
    with pytest.raises(ActionResultError) as err:
        FailedOver.of({"from": "a", "to": "b", "seconds": 1.0})
    assert str(err.value).startswith("fail_over_to_backup_region's result lacks backup, backup_stop, redis_backup")
    assert "(it has: from, seconds, to)" in str(err.value)
    with pytest.raises(ActionResultError, match=r"^region_loss \(replication_before_loss\)'s result lacks lag_seconds"):
        RegionLost.of({"injected_at": "x", "destroyed": [], "replication_before_loss": {
            "method": "sync", "primary_newest_wal": None, "backup_newest_wal": None, "segments_behind": 0}})
    with pytest.raises(ActionResultError, match="take_redis_backup returned list, not a result object"):
        RedisBackupTaken.of([])


def test_the_region_steps_measure_from_the_views(tmp_path):
    """The steps' figures, from the actions' results through the views (a drill stand-in with what they use)."""
    from types import SimpleNamespace

    from steps import region as steps

    platform, conf = adopted(tmp_path, tmp_path)
    drill = SimpleNamespace(configuration=conf, platform=platform, measurements={}, notes={})
    steps.region_lost(drill)
    steps.failed_over(drill, 900.0)
    lost = drill.notes["region_loss"]
    assert drill.measurements == {
        "archive_lag_seconds": lost.archive_lag_seconds, "replication_lag_seconds": 12.5,
        "replication_segments_behind": 1, "primary_newest_wal_at_loss": "000000010000000000000007",
        "backup_newest_wal_at_loss": "000000010000000000000006", "failover_seconds": 150.0,
        "restored_postgres_set": "20251201-075000F", "restored_redis_backup": "20251201T075500Z-000R",
        "redis_keys_restored": 42, "postgres_set_stop_before_loss_seconds": round(lost.at - 1764575404.0, 3),
        "redis_backup_age_at_loss_seconds": round(lost.at - 1764575700.0, 3)}
    with pytest.raises(AssertionError, match="failed over in 150.0s, more than 100s"):
        steps.failed_over(drill, 100.0)


def test_a_step_whose_earlier_step_did_not_run_says_which(tmp_path):
    from types import SimpleNamespace

    from steps import region as steps

    platform, conf = adopted(tmp_path, tmp_path)
    drill = SimpleNamespace(configuration=conf, platform=platform, measurements={}, notes={})
    with pytest.raises(AssertionError, match="needs the step 'the whole primary region is lost' to have run"):
        steps.failed_over(drill, 900.0)


def test_a_features_within_bound_is_scaled_by_the_timeout_multiplier(tmp_path, monkeypatch):
    """As every wait of the other steps is: a failover of 150 s passes "within 100 seconds" at multiplier 2."""
    from types import SimpleNamespace

    from steps import region as steps

    monkeypatch.setenv("DRILL_TIMEOUT_MULTIPLIER", "2")
    platform, conf = adopted(tmp_path, tmp_path)
    drill = SimpleNamespace(configuration=conf, platform=platform, measurements={}, notes={})
    steps.region_lost(drill)
    steps.failed_over(drill, 100.0)
    with pytest.raises(AssertionError, match=r"failed over in 150.0s, more than 100s \(50s x 2\)"):
        steps.failed_over(drill, 50.0)
