"""Backup, restore and disaster-recovery steps: through the Platform's Backups and Restores, judged by the
history (which transfers the clients saw acknowledged, and when) rather than by row counts."""

from __future__ import annotations

import math
import time
from typing import Any

import psycopg
import pytest
from pytest_bdd import given, parsers, then, when

from waqiti_drill.checker.pitr import judge_point_in_time
from waqiti_drill.faults import actions
from waqiti_drill.platform.base import BackupInfo, RestoreInfo
from waqiti_drill.results import BackupUsed
from waqiti_drill.suite.drill import ScenarioDrill
from waqiti_drill.timefmt import parse_utc, utc_iso
from waqiti_drill.waiting import wait_until
from waqiti_drill.workload import ledger

from .common import acknowledged_writes, bound_text, feature_bound, remember


def _used(drill: ScenarioDrill, info: BackupInfo) -> BackupInfo:
    if all(b.label != info.label for b in drill.backups):
        drill.backups.append(BackupUsed(label=info.label, type=info.type, wal_start=info.wal_start,
                                        wal_stop=info.wal_stop, stop=info.stop))
    return info


def _tids(kwargs: dict[str, object], run_id: str) -> set[int]:
    with psycopg.connect(**kwargs, autocommit=True, connect_timeout=10) as conn:  # type: ignore[arg-type]
        return {tid for chunk in ledger.transferred_ids(conn, run_id) for tid in chunk}


def _restored(drill: ScenarioDrill, request: pytest.FixtureRequest, info: RestoreInfo) -> RestoreInfo:
    """Note the restore's set and time; the copy is dropped when the scenario ends, whatever happened."""
    if not drill.notes.get("drop_copy_registered"):
        request.addfinalizer(drill.platform.drop_restore_copy)
        drill.notes["drop_copy_registered"] = True
    _used(drill, info.backup)
    drill.measurements["restore_seconds"] = info.seconds
    drill.measurements["recovery_target"] = info.recovery_target
    return info


TAKEN = r"an? (?P<kind>full|incremental|differential) backup is taken"


@given(parsers.re(TAKEN), target_fixture="backup")
@when(parsers.re(TAKEN), target_fixture="backup")
def backup_taken(drill: ScenarioDrill, kind: str) -> BackupInfo:
    # pgBackRest times a backup's start in whole seconds (rounded down): started in the second the load's
    # first writes were acknowledged, none of them reads as acknowledged "before the backup began". The
    # backup starts in the next second, so every write acknowledged before this step is before it.
    now = time.time()
    time.sleep(math.floor(now) + 1.0 - now)
    started = time.monotonic()
    info = drill.platform.backup({"incremental": "incr", "differential": "diff"}.get(kind, kind))  # type: ignore[arg-type]
    drill.measurements[f"{kind}_backup_seconds"] = round(time.monotonic() - started, 3)
    remember(drill, f"{kind}_backup", info)
    return _used(drill, info)


@then(parsers.re(r"the repository lists it as an? (?P<kind>full|incremental|differential) backup with its WAL range"))
def backup_listed(drill: ScenarioDrill, backup: BackupInfo, kind: str) -> None:
    listed = {b.label: b for b in drill.platform.list_backups()}
    assert backup.label in listed, f"{backup.label} is not in the repository: {', '.join(listed) or 'nothing'}"
    found = listed[backup.label]
    expected = {"incremental": "incr", "differential": "diff"}.get(kind, kind)
    assert found.type == expected, f"{found.label} is a {found.type} backup, not {expected}"
    assert found.wal_start and found.wal_stop and found.wal_start <= found.wal_stop, (found.wal_start, found.wal_stop)
    assert found.start <= found.stop and found.size_bytes > 0, found


@then("it depends on the newest full backup before it")
def depends_on_full(drill: ScenarioDrill, backup: BackupInfo) -> None:
    listed = drill.platform.list_backups()
    fulls = [b for b in listed if b.type == "full" and b.stop <= backup.start]
    assert fulls, "no full backup precedes the incremental"
    chain, label = [], backup.prior
    by_label = {b.label: b for b in listed}
    while label and label in by_label and by_label[label].type != "full":
        chain.append(label)
        label = by_label[label].prior
    assert label == max(fulls, key=lambda b: b.stop).label, f"{backup.label} depends on {label}, via {chain}"


@given(parsers.parse("the load has made {count:d} more acknowledged writes"))
@when(parsers.parse("the load has made {count:d} more acknowledged writes"))
def more_writes(drill: ScenarioDrill, count: int) -> None:
    base = acknowledged_writes(drill)
    wait_until(lambda: (acknowledged_writes(drill) >= base + count, acknowledged_writes(drill)), 120.0,
               f"{count} more acknowledged writes than {base} in the history", interval=0.2)


@when("a target time is taken", target_fixture="target_time")
def target_taken(drill: ScenarioDrill) -> float:
    target = time.time()
    drill.measurements["pitr_target"] = utc_iso(target)
    return target


@when("the WAL up to now is archived")
def wal_archived(drill: ScenarioDrill) -> None:
    drill.platform.archive_wal()


@when(parsers.parse('the newest backup is restored into "{database}"'), target_fixture="restore")
def newest_restored(drill: ScenarioDrill, request: pytest.FixtureRequest, database: str) -> RestoreInfo:
    return _restored(drill, request, drill.platform.restore_copy(None, database))


@when("the copy is restored to the target time", target_fixture="restore")
def restored_to_target(drill: ScenarioDrill, request: pytest.FixtureRequest, target_time: float) -> RestoreInfo:
    return _restored(drill, request, drill.platform.restore_copy(utc_iso(target_time)))


def _copy_tids(drill: ScenarioDrill, restore: RestoreInfo) -> set[int]:
    """Stop the load (the drill's finish: heal, read back) so its history is complete, then read the copy."""
    drill.finish()
    assert drill.load is not None, "no load ran: there is nothing to compare the restored copy with"
    return _tids(drill.platform.restore_connect_kwargs(restore.target), drill.load.run_id)


@then("the copy holds every transfer acknowledged before the backup began and none invoked after it ended")
def copy_matches_backup(drill: ScenarioDrill, restore: RestoreInfo) -> None:
    present = _copy_tids(drill, restore)
    before = judge_point_in_time(drill.history_dir, present, parse_utc(restore.backup.start))
    after = judge_point_in_time(drill.history_dir, present, parse_utc(restore.backup.stop) + 1.0)
    drill.measurements.update(restored_transfers=len(present), acknowledged_before_backup=before.acked_before)
    assert before.acked_before > 0, "no transfer was acknowledged before the backup began: nothing was tested"
    assert not before.missing_before, before.problems()
    assert not after.present_after and not after.failed_present, after.problems()


@then("the copy holds every transfer acknowledged before the target and none invoked after it")
def copy_matches_target(drill: ScenarioDrill, restore: RestoreInfo, target_time: float) -> None:
    present = _copy_tids(drill, restore)
    verdict = judge_point_in_time(drill.history_dir, present, target_time)
    drill.measurements.update(pitr_acknowledged_before=verdict.acked_before, pitr_invoked_after=verdict.invoked_after,
                              pitr_in_flight=verdict.in_flight, restored_transfers=len(present))
    assert verdict.passed, "; ".join(verdict.problems())
    assert verdict.invoked_after > 0, "no transfer came after the target: the test could not tell"


@then(parsers.parse('the live database is untouched and the copy is named "{database}"'))
def live_untouched(drill: ScenarioDrill, restore: RestoreInfo, database: str) -> None:
    assert restore.target == database
    assert drill.load is not None
    live = _tids(drill.platform.postgres_connect_kwargs(), drill.load.run_id)
    copy = _tids(drill.platform.restore_connect_kwargs(database), drill.load.run_id)
    assert copy <= live and len(live) > len(copy), f"live {len(live)} transfers, copy {len(copy)}"


@when("the daily validation job runs", target_fixture="restore")
def validation_job(drill: ScenarioDrill, request: pytest.FixtureRequest) -> RestoreInfo:
    """The spec's backup-validation-job: every repository file read back and checked, then a test restore."""
    started = time.monotonic()
    drill.platform.verify_backups()  # a file that does not verify raises, naming pgBackRest's own words
    drill.measurements["verify_seconds"] = round(time.monotonic() - started, 3)
    return _restored(drill, request, drill.platform.restore_copy(None, "waqiti_validation"))


@then("the test restore answers with the ledger's accounts and conserved balances")
def test_restore_answers(drill: ScenarioDrill, restore: RestoreInfo) -> None:
    kwargs = drill.platform.restore_connect_kwargs(restore.target)
    with psycopg.connect(**kwargs, autocommit=True, connect_timeout=10) as conn:  # type: ignore[arg-type]
        accounts, total = ledger.total_balance(conn)
    assert accounts > 0, "the restored copy has no accounts"
    assert total == accounts * ledger.INITIAL_BALANCE, f"balances sum to {total}, not {accounts} x initial"


@when(parsers.parse("the retention is applied {days:d} days from now"), target_fixture="expired")
def retention_applied(drill: ScenarioDrill, days: int) -> list[str]:
    before = drill.platform.list_backups()
    remember(drill, "backups_before_retention", before)
    when_iso = utc_iso(time.time() + days * 86400)
    return drill.platform.expire_backups(when_iso)


@then("every incremental chain is expired and every full backup is kept")
def incrementals_expired(drill: ScenarioDrill, expired: list[str]) -> None:
    before = drill.notes["backups_before_retention"]
    after = {b.label for b in drill.platform.list_backups()}
    incrementals = [b.label for b in before if b.type == "incr"]
    fulls = [b.label for b in before if b.type == "full"]
    assert incrementals, "there was no incremental backup to expire: take one first"
    assert expired, "the retention expired nothing"
    assert not set(incrementals) & after, f"incrementals still listed: {sorted(set(incrementals) & after)}"
    assert set(fulls) <= after, f"fulls expired: {sorted(set(fulls) - after)} (they are kept 90 days)"
    drill.measurements["expired_sets"] = ", ".join(expired)


@then("nothing is expired")
def nothing_expired(drill: ScenarioDrill, expired: list[str]) -> None:
    assert expired == [], f"expired today: {expired}"


@then("the backups cannot be read with another cipher passphrase")
def unreadable_without_key(drill: ScenarioDrill) -> None:
    readable, said = drill.platform.backups_readable_with("not-the-" + "passphrase")
    drill.measurements["wrong_key_says"] = said[:200]
    assert not readable, f"the repository opened with a wrong passphrase: {said}"


@then("they are read with their own")
def readable_with_key(drill: ScenarioDrill) -> None:
    assert drill.platform.list_backups(), "no backup set listed with the repository's own passphrase"


@when("the object store is stopped", target_fixture="fault")
def store_stopped(drill: ScenarioDrill) -> dict[str, Any]:
    return actions.stop_object_store(configuration=drill.configuration)


@then(parsers.parse("an incremental backup attempted for {seconds:g} seconds fails loudly"))
def backup_fails(drill: ScenarioDrill, seconds: float) -> None:
    """backup_must_fail raises (so this step fails) if the backup succeeds: the outage was not real."""
    done = actions.backup_must_fail("incr", seconds, configuration=drill.configuration)
    drill.measurements["failed_backup_seconds"] = done["seconds"]
    drill.measurements["failed_backup_error"] = str(done["error"])[:300]
    assert done["failed"] and done["error"]


@then("after the heal an incremental backup succeeds again")
def backup_works_again(drill: ScenarioDrill) -> None:
    drill.heal()
    _used(drill, drill.platform.backup("incr"))


@when("the whole PostgreSQL cluster is lost with every member's disk", target_fixture="fault")
def site_lost(drill: ScenarioDrill) -> dict[str, Any]:
    return actions.destroy_postgres_cluster(configuration=drill.configuration)


@then("no member of the PostgreSQL cluster is left")
def nothing_left(drill: ScenarioDrill) -> None:
    assert drill.platform.postgres_lost()
    problems = drill.platform.status().problems
    assert any("destroyed" in p for p in problems), problems


@when(parsers.parse("the cluster is rebuilt from the object store alone within {seconds:g} seconds"))
def rebuilt(drill: ScenarioDrill, seconds: float) -> None:
    done = actions.recover_postgres_from_repository(seconds, configuration=drill.configuration)
    drill.measurements["rebuild_seconds"] = done["seconds"]
    _used(drill, next(b for b in drill.platform.list_backups() if b.label == done["backup"]))
    assert done["seconds"] <= feature_bound(seconds), f"rebuilt in {done['seconds']}s, more than {bound_text(seconds)}"


@then("the restore mode measured the data lost")
def restore_mode(drill: ScenarioDrill) -> None:
    result = drill.require_check()
    assert result.mode == "restore", result.mode
    pg = result.services["postgres"]
    drill.measurements.update(lost_after_last_archived_wal=pg.lost, acknowledged=pg.acked_writes)
    balance = pg.balance_total
    assert balance is not None and balance.value == balance.expected, f"balances not conserved: {balance}"
