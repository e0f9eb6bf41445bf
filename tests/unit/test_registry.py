"""The fault registry walked as data: every kind is consistent, named like its record, undoable, and the
ledger's bad states are one-line errors naming the file (no platform involved)."""

from __future__ import annotations

import json

import pytest

from tests.fakeplatform import adopted
from waqiti_drill.checker.load import load_faults
from waqiti_drill.errors import StateDirError
from waqiti_drill.faults import actions, heal, registry
from waqiti_drill.faults.ledger import FaultLedger
from waqiti_drill.faults.registry import FaultKind


def test_every_ledgered_kind_has_an_undo_and_every_transition_none():
    kinds = registry.kinds()
    assert len(kinds) >= 15
    for kind in kinds.values():
        if kind.ledgered:
            assert callable(kind.undo), kind.kind
            assert kind.undo_order in registry.UNDO_ORDERS, kind.kind
        else:
            assert kind.undo is None and not kind.hold, kind.kind
        assert kind.describe, f"{kind.kind} says what it does"


def test_every_kind_has_its_chaostoolkit_action_of_the_same_name_and_the_reverse():
    kinds = registry.kinds()
    assert {name for name in actions.__all__ if name in kinds} == set(kinds)


@pytest.mark.parametrize("kind", sorted(registry.kinds()))
def test_each_action_records_its_fault_under_exactly_its_kind(kind, tmp_path):
    """Each action called in-process, as a drill calls it, on a fake platform: every fault record it writes
    (its inject, and the heal of a transition or a timed fault) is named exactly its kind, which the ledger,
    heal, the checker's RPO mode and monitoring's expected alerts all key on."""
    platform, configuration = adopted(tmp_path, tmp_path)
    params = {"seconds": 0.01} if registry.get(kind).hold else {}
    done = getattr(actions, kind)(configuration=configuration, **params)
    records = load_faults(tmp_path / "history")
    assert [r.name for r in records] == [kind] * len(records) and records, f"{kind} recorded {records}"
    assert records[0].phase == "inject" and done["fault"] == kind
    assert platform.calls, f"{kind} acted on the platform of the drill"


def test_the_old_names_of_renamed_kinds_still_heal():
    assert registry.lookup("kill_redis_node") is registry.get("kill_redis_master")
    assert registry.lookup("destroy_postgres") is registry.get("destroy_postgres_cluster")
    assert registry.get("destroy_postgres_cluster").rpo_mode == "restore"


def test_undo_order_resumes_and_unpartitions_before_restarts():
    k = registry.get
    assert k("freeze_member").undo_order < k("isolate_member").undo_order < k("kill_dcs").undo_order
    assert k("kill_dcs").undo_order < k("kill_member").undo_order < k("add_redis_master").undo_order
    assert k("fill_disk").undo_order < k("kill_member").undo_order


def test_member_faults_and_what_halts_a_failover():
    kinds = registry.kinds()
    assert {n for n, k in kinds.items() if k.member_fault} == {"kill_member", "stop_member", "isolate_member"}
    assert {n for n, k in kinds.items() if k.halts_failover} == {"kill_dcs", "freeze_dcs", "isolate_dcs"}


@pytest.mark.parametrize("bad", [
    FaultKind("x_ledgered_without_undo", inject=lambda p, t: None),
    FaultKind("x_transition_with_undo", inject=lambda p, t: None, undo=lambda p, t: None, ledgered=False),
    FaultKind("x_bad_order", inject=lambda p, t: None, undo=lambda p, t: None, undo_order=7),
])
def test_an_inconsistent_kind_is_refused_at_registration(bad):
    with pytest.raises(ValueError, match=bad.kind):
        registry.register(bad)
    assert bad.kind not in registry.kinds()


def test_a_kind_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(registry.get("kill_member"))


def test_an_unknown_kind_in_the_ledger_is_one_line_naming_the_kind_and_the_file(tmp_path):
    ledger = FaultLedger(tmp_path)
    ledger.begin("kill_member", "pg1")
    ledger.begin("teleport_member", "pg2")
    with pytest.raises(StateDirError) as err:
        heal.heal_all(object(), ledger, 1.0)  # type: ignore[arg-type] - refused before the platform is touched
    message = str(err.value)
    assert "\n" not in message and "'teleport_member'" in message and str(ledger.path) in message
    assert len(ledger.active()) == 2, "nothing was undone or forgotten"


@pytest.mark.parametrize("content", ['{"id": "x"}', '"faults"', "3", '[["kill_member"]]'])
def test_a_ledger_that_is_not_a_list_of_entries_is_an_error_never_empty(tmp_path, content):
    ledger = FaultLedger(tmp_path)
    ledger.dir.mkdir()
    ledger.path.write_text(content)
    with pytest.raises(StateDirError, match="not a JSON list of entries"):
        ledger.active()
    with pytest.raises(StateDirError):
        ledger.begin("kill_member", "pg1")  # and a write does not erase it
    assert ledger.path.read_text() == content


def test_a_malformed_entry_is_named(tmp_path):
    ledger = FaultLedger(tmp_path)
    ledger.dir.mkdir()
    ledger.path.write_text(json.dumps([{"id": "a", "kind": "kill_member"}]))
    with pytest.raises(StateDirError, match=r"entry 0 of the fault ledger is malformed"):
        ledger.active()
