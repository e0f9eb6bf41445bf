"""Pure parts of fault injection: the active-fault ledger, experiment validation, the journal verdict and
the heal's order (the registry's own walk is tests/unit/test_registry.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from waqiti_drill.errors import InvalidConfig, StateDirError
from waqiti_drill.faults import experiment, registry
from waqiti_drill.faults.ledger import FaultLedger

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def test_the_ledger_keeps_a_fault_until_it_is_ended(tmp_path):
    ledger = FaultLedger(tmp_path)
    a = ledger.begin("freeze_member", "pg1")
    b = ledger.begin("kill_redis_master", "127.0.0.1:25501")
    assert [(f.kind, f.target) for f in ledger.active()] == [("freeze_member", "pg1"),
                                                             ("kill_redis_master", "127.0.0.1:25501")]
    ledger.end(a.id)
    assert [f.id for f in FaultLedger(tmp_path).active()] == [b.id]  # read back from disk
    ledger.end(b.id)
    assert ledger.active() == []


def test_a_corrupt_ledger_is_an_error_naming_the_file(tmp_path):
    ledger = FaultLedger(tmp_path)
    ledger.dir.mkdir()
    ledger.path.write_text('[{"id": "x",\n')
    with pytest.raises(StateDirError, match=r"active.json:2: the fault ledger is corrupt"):
        ledger.active()


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_scenario_is_a_valid_experiment_with_hypothesis_and_rollbacks(path):
    exp = experiment.load(path)
    assert exp["steady-state-hypothesis"]["probes"]
    assert exp["rollbacks"], "every drill heals what it broke"
    assert any(c["provider"]["module"] == "waqiti_drill.faults.controls" for c in exp["controls"])
    assert path.stem in exp["tags"]


def test_a_malformed_experiment_names_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: x\nmethod:\n  - type: action\n   name: oops\n")
    with pytest.raises(InvalidConfig, match=r"bad.yaml:4: not valid YAML"):
        experiment.load(bad)


def test_an_experiment_calling_an_unknown_function_is_refused(tmp_path):
    bad = tmp_path / "unknown.json"
    bad.write_text(json.dumps({
        "title": "t", "description": "d",
        "method": [{"type": "action", "name": "a",
                    "provider": {"type": "python", "module": "waqiti_drill.faults.actions", "func": "nope"}}],
    }))
    with pytest.raises(InvalidConfig, match=r"unknown.json: invalid experiment"):
        experiment.load(bad)


def _journal(status="completed", deviated=False, run_status="succeeded", rollback_status="succeeded") -> dict:
    return {"experiment": {"title": "T"}, "status": status, "deviated": deviated,
            "run": [{"activity": {"name": "kill"}, "status": run_status}],
            "rollbacks": [{"activity": {"name": "heal"}, "status": rollback_status}]}


@pytest.mark.parametrize(
    ("journal", "passed", "fragment"),
    [
        (_journal(), True, "status completed"),
        (_journal(deviated=True), False, "steady state deviated"),
        (_journal(run_status="failed"), False, "steps failed: kill"),
        (_journal(rollback_status="failed"), False, "rollbacks failed: heal"),
        (_journal(status="interrupted"), False, "status interrupted"),
    ],
)
def test_the_journal_verdict(journal, passed, fragment):
    ok, line = experiment.summary(journal)
    assert ok is passed and fragment in line


def test_heal_frees_a_disk_in_the_ledger_before_restarts_and_sweeps_one_a_killed_run_left(tmp_path, monkeypatch):
    from waqiti_drill.faults import heal as heal_module

    calls: list[str] = []

    class FakePlatform:
        filled = ["pg2"]

        def free_disk(self, name: str) -> None:
            calls.append(f"free {name}")
            if name in self.filled:
                self.filled.remove(name)

        def disk_faults(self) -> list[str]:
            return list(self.filled)

        def start_member(self, name: str) -> None:
            calls.append(f"start {name}")

        def resume_all(self) -> list[str]:
            return []

        def heal_network(self) -> list[str]:
            return []

        def close_open_slots(self) -> list[str]:
            return []

        def up(self) -> None:
            calls.append("up")

    monkeypatch.setattr(heal_module.health, "wait_healthy", lambda platform, timeout: None)
    ledger = FaultLedger(tmp_path)
    ledger.begin("kill_member", "pg3")
    ledger.begin("fill_disk", "pg1")
    undone = heal_module.heal_all(FakePlatform(), ledger, 1.0)  # type: ignore[arg-type]
    assert calls == ["free pg1", "start pg3", "free pg2", "up"]
    assert undone == ["fill_disk pg1", "kill_member pg3", "freed the disk of pg2"]
    assert ledger.active() == []
    assert registry.get("fill_disk").undo_order < registry.get("kill_member").undo_order


def test_every_scenario_passes_chaos_validate():
    """The chaostoolkit CLI's own validation, as an operator would run it (`chaos validate FILE`)."""
    import subprocess
    import sys

    chaos = Path(sys.executable).with_name("chaos")
    for path in sorted(SCENARIOS.glob("*.yaml")):
        result = subprocess.run([str(chaos), "validate", str(path)], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{path.name}: {result.stdout}{result.stderr}"
        assert "experiment syntax and semantic look valid" in result.stdout + result.stderr, path.name
