"""The engine's fixed order, on a stand-in that only records which primitive was called when (the real
primitives are exercised against the real stack in tests/integration): ledger before the fault, record
after it (or before, for request-instant kinds), a held fault undone even when interrupted."""

from __future__ import annotations

import json

import pytest

from waqiti_drill.config import Settings
from waqiti_drill.errors import InvalidConfig
from waqiti_drill.faults import context
from waqiti_drill.faults.engine import FaultEngine
from waqiti_drill.faults.ledger import FaultLedger
from waqiti_drill.platform.base import PgMember


class Recording:
    """Answers what the kinds ask (members, roles) and notes, for each primitive called, what the ledger held."""

    name = "recording"

    def __init__(self, ledger: FaultLedger, run_dir) -> None:
        self.ledger, self.run_dir, self.calls = ledger, run_dir, []

    def postgres_members(self) -> list[PgMember]:
        return [PgMember("pg1", "primary", "running", 1, 0, "h", 1), PgMember("pg2", "sync_standby", "streaming", 1,
                                                                               0, "h", 2)]

    def _note(self, what: str) -> None:
        faults = self.run_dir / "history" / "faults.jsonl"
        records = len(faults.read_text().splitlines()) if faults.exists() else 0
        self.calls.append((what, [f.kind for f in self.ledger.active()], records))

    def kill_member(self, name: str) -> None:
        self._note(f"kill {name}")

    def freeze_member(self, name: str) -> None:
        self._note(f"freeze {name}")

    def thaw_member(self, name: str) -> None:
        self._note(f"thaw {name}")

    def switchover(self, candidate: str | None) -> None:
        self._note(f"switchover to {candidate}")


@pytest.fixture
def engine(tmp_path):
    settings = Settings(state_dir=tmp_path / "state")
    settings.state_dir.mkdir()
    faults = FaultEngine(settings, None)  # type: ignore[arg-type]
    faults.platform = Recording(faults.ledger, tmp_path)  # type: ignore[assignment]
    return faults


def _records(tmp_path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "history" / "faults.jsonl").read_text().splitlines()]


def test_a_ledgered_fault_is_in_the_ledger_before_it_is_injected_and_recorded_after(engine, tmp_path):
    done = engine.inject("kill_member", "primary", tmp_path)
    assert engine.platform.calls == [("kill pg1", ["kill_member"], 0)]  # in the ledger, not yet recorded
    assert done["fault"] == "kill_member" and done["target"] == "pg1" and done["role"] == "primary"
    (record,) = _records(tmp_path)
    assert (record["name"], record["target"], record["phase"], record["detail"]) == (
        "kill_member", "pg1", "inject", {"role": "primary"})
    assert [f.kind for f in engine.ledger.active()] == ["kill_member"], "stays until healed"


def test_a_transition_is_recorded_before_the_request_and_ends_with_a_heal_record_and_no_ledger(engine, tmp_path):
    engine.inject("switchover", "primary", tmp_path, candidate="pg2")
    assert engine.platform.calls == [("switchover to pg2", [], 1)]
    assert [(r["name"], r["phase"]) for r in _records(tmp_path)] == [("switchover", "inject"), ("switchover", "heal")]
    assert engine.ledger.active() == []


def test_a_held_fault_is_thawed_when_its_time_is_up_and_when_interrupted(engine, tmp_path, monkeypatch):
    engine.inject("freeze_member", "pg1", tmp_path, seconds=0.05)
    assert [c[0] for c in engine.platform.calls] == ["freeze pg1", "thaw pg1"]
    assert engine.ledger.active() == []
    engine.platform.calls.clear()

    def interrupted(_seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("waqiti_drill.faults.engine.time.sleep", interrupted)
    with pytest.raises(KeyboardInterrupt):
        engine.inject("freeze_member", "pg1", tmp_path, seconds=60)
    assert [c[0] for c in engine.platform.calls] == ["freeze pg1", "thaw pg1"], "thawed although interrupted"
    assert [f.kind for f in engine.ledger.active()] == ["freeze_member"], "left for heal: its thaw is idempotent"


@pytest.mark.parametrize("seconds", [None, 0, -1, 3601, "x"])
def test_a_held_fault_needs_sensible_seconds_before_anything_happens(engine, tmp_path, seconds):
    with pytest.raises(InvalidConfig, match="seconds"):
        engine.inject("freeze_member", "pg1", tmp_path, seconds=seconds)
    assert engine.platform.calls == [] and engine.ledger.active() == []


def test_an_unknown_role_is_refused_before_the_ledger(engine, tmp_path):
    with pytest.raises(InvalidConfig, match="no member is replica now"):
        engine.inject("kill_member", "replica", tmp_path)
    assert engine.ledger.active() == []


def test_actions_use_the_adopted_platform_of_their_stack(tmp_path):
    from waqiti_drill.faults import actions

    settings = Settings(state_dir=tmp_path / "state")
    settings.state_dir.mkdir()
    adopted = context.adopt(settings, None, None)  # type: ignore[arg-type]
    adopted.platform = Recording(adopted.ledger, tmp_path)  # type: ignore[assignment]
    configuration = context.configuration_for(settings, None, tmp_path)
    assert context.engine(configuration) is adopted
    actions.kill_member("primary", configuration=configuration)
    assert [c[0] for c in adopted.platform.calls] == ["kill pg1"]
