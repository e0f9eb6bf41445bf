"""The monitoring conditions as fault kinds, through the engine's fixed order, on a stand-in that records
the calls (the real primitives run against the real stack in tests/integration/test_monitoring_faults.py)."""

from __future__ import annotations

import json

import pytest

from waqiti_drill.config import Settings
from waqiti_drill.faults import registry
from waqiti_drill.faults.engine import FaultEngine
from waqiti_drill.platform.base import PgMember


class Recording:
    name = "recording"

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def postgres_members(self) -> list[PgMember]:
        return [PgMember("pg1", "primary", "running", 1, 0, "h", 1),
                PgMember("pg3", "replica", "streaming", 1, 0, "h", 3)]

    def fill_disk_to(self, name: str, percent: float) -> int:
        self.calls.append(("fill_disk_to", name, percent))
        return 123

    def free_disk(self, name: str) -> None:
        self.calls.append(("free_disk", name))

    def hold_connections(self, name: str, fraction: float) -> int:
        self.calls.append(("hold_connections", name, fraction))
        return 180

    def release_connections(self) -> int:
        self.calls.append(("release_connections",))
        return 180

    def pause_replay(self, name: str) -> None:
        self.calls.append(("pause_replay", name))

    def resume_replay(self, name: str) -> None:
        self.calls.append(("resume_replay", name))

    def attempt_failed_logins(self, name: str, count: int) -> int:
        self.calls.append(("attempt_failed_logins", name, count))
        return count


@pytest.fixture
def engine(tmp_path):
    settings = Settings(state_dir=tmp_path / "state")
    settings.state_dir.mkdir()
    faults = FaultEngine(settings, None)  # type: ignore[arg-type]
    faults.platform = Recording()  # type: ignore[assignment]
    return faults


def records(tmp_path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "history" / "faults.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(("kind", "params", "call", "did"), [
    ("fill_disk_to", {"percent": 90.0}, ("fill_disk_to", "pg3", 90.0), {"bytes_written": 123}),
    ("hold_connections", {"fraction": 0.95}, ("hold_connections", "pg1", 0.95), {"connections_opened": 180}),
    ("stall_replay", {}, ("pause_replay", "pg3"), {}),
])
def test_a_lasting_condition_is_ledgered_recorded_with_its_parameters_and_undone(engine, tmp_path, kind, params, call,
                                                                                 did):
    done = engine.inject(kind, None, tmp_path, **params)
    assert engine.platform.calls == [call]
    assert [e.kind for e in engine.ledger.active()] == [kind]
    record = records(tmp_path)[-1]
    assert record["phase"] == "inject" and record["detail"] == {"role": registry.get(kind).default_target, **params,
                                                                 **did}
    assert done["target"] == call[1] and all(done[k] == v for k, v in {**params, **did}.items())
    entry = engine.ledger.active()[0]  # the heal's first act on it (the rest of a heal needs a real platform)
    registry.get(entry.kind).undo(engine.platform, entry.target)
    assert engine.platform.calls[-1][0] in ("free_disk", "release_connections", "resume_replay")


def test_refused_logins_are_a_transition_recorded_before_the_first_attempt(engine, tmp_path):
    done = engine.inject("failed_logins", "primary", tmp_path, count=8)
    assert done["refused"] == 8 and engine.ledger.active() == []
    phases = [(r["name"], r["phase"]) for r in records(tmp_path)]
    assert phases == [("failed_logins", "inject"), ("failed_logins", "heal")]
