"""The fault registry walked as data: every kind is consistent, named like its record, undoable, and the
ledger's bad states are one-line errors naming the file (no platform involved)."""

from __future__ import annotations

import inspect
import json

import pytest

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


def test_each_action_names_a_registered_kind_and_records_it_under_that_name():
    """The action and its kind share one name (the record's and the ledger's): reading the adapters' source
    is the cheapest way to hold every one to it without a platform."""
    kinds = registry.kinds()
    fault_actions = {name: getattr(actions, name) for name in actions.__all__ if name in kinds}
    assert set(fault_actions) == {k for k in kinds}, "every kind has its chaostoolkit action, and the reverse"
    for name, action in fault_actions.items():
        source = inspect.getsource(action)
        assert f'"{name}"' in source, f"{name} injects a kind of another name"


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
