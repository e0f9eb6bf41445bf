"""The live view's bookkeeping: a run directory written by hand, as pytest and the scenario fill it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.rundirs import make_run
from waqiti_drill.suite import estimates
from waqiti_drill.suite.livefeed import LineTail, LiveWrites, last_roles
from waqiti_drill.suite.livestate import RunFeed
from waqiti_drill.suite.liveview import choose_mode, panel, plain_line

T0 = 1_764_093_600.0


def append(path: Path, *records: dict, partial: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in records)
        fh.write(partial)


VALUES = {"transfer": {"tid": 1, "from": 1, "to": 2, "amount": 5}, "balance": {"account": 1},
          "session": {"key": "s:w1:1"}, "incr": {"key": "c:1"}}


def op(service: str, f: str, kind: str, wall: float) -> dict:
    """One history record as the recorder writes it (invoke values as the checker expects them)."""
    return {"kind": "op", "id": "w:1", "proc": "w1-u1", "service": service, "shard": service, "type": kind, "f": f,
            "wall": wall, "mono": wall - T0, "value": VALUES[f] if kind == "invoke" else {}}


@pytest.fixture
def run(tmp_path):
    run_dir = tmp_path / "reports" / "r1"
    (run_dir / "scenarios" / "failover--kill").mkdir(parents=True)
    state = tmp_path / "state"
    (state / "faults").mkdir(parents=True)
    return run_dir, state


def test_partial_line_waits_for_its_newline(tmp_path):
    path = tmp_path / "x.jsonl"
    tail = LineTail(path)
    append(path, {"a": 1}, partial='{"b": ')
    assert tail.new() == [{"a": 1}]
    with open(path, "a") as fh:
        fh.write('2}\n')
    assert tail.new() == [{"b": 2}]
    assert tail.new() == []


def test_live_writes_per_service_from_the_history_tail(tmp_path):
    history = tmp_path / "history"
    writes = LiveWrites(history)
    assert writes.poll(T0, 50.0) == {}  # no history yet
    ops = [{**op("postgres", "transfer", kind, T0 + i / 10), "id": f"w1:{i}"}
           for i in range(30) for kind in ("invoke", "ok")]
    ops += [{**op("postgres", "balance", kind, T0), "id": "w1:r"} for kind in ("invoke", "ok")]
    ops += [{**op("redis", "incr", kind, T0), "id": "w1:x"} for kind in ("invoke", "fail")]
    ops.append({**op("redis", "session", "invoke", T0 + 1), "id": "w1:y", "mono": 40.0})  # still open
    append(history / "ops-w1-1.jsonl", *ops)
    got = writes.poll(T0 + 2, 50.0)
    assert got["postgres"].ok_total == 30 and got["postgres"].errors_total == 0  # the read is not a write
    assert got["redis"].errors_total == 1 and got["redis"].open_for == pytest.approx(10.0)
    assert got["postgres"].ok_per_second == pytest.approx(30 / 2)  # since the first poll, 2 s ago
    got = writes.poll(T0 + 6, 54.0)
    assert got["postgres"].ok_per_second == 0 and got["postgres"].ok_total == 30  # nothing new: an outage reads 0
    append(history / "ops-w1-1.jsonl", partial='{"kind": "op", "id": ')
    assert writes.poll(T0 + 7, 55.0)["postgres"].ok_total == 30 and writes.unreadable is None  # waits for the line


def test_an_unreadable_history_is_said_once_and_the_view_goes_on(tmp_path):
    history = tmp_path / "history"
    append(history / "ops-w1-1.jsonl", {"kind": "op", "id": "w1:1", "type": "nonsense"})
    writes = LiveWrites(history)
    assert writes.poll(T0, 1.0) == {} and writes.unreadable and "ops-w1-1.jsonl" in writes.unreadable


def test_last_roles_reads_the_newest_sample(tmp_path):
    path = tmp_path / "roles.jsonl"
    assert last_roles(path) == {}
    append(path, {"wall": T0, "members": {"pg1": "primary"}}, {"wall": T0 + 1, "members": {"pg1": "down"}},
           partial='{"wall": ')
    assert last_roles(path) == {"pg1": "down"}


def progress(run_dir: Path, *events: dict) -> None:
    append(run_dir / "progress.jsonl", *events)


def test_a_scenario_from_start_to_end(run):
    run_dir, state = run
    scenario = run_dir / "scenarios" / "failover--kill"
    feed = RunFeed(run_dir, state, estimates.Estimates(), started=T0)
    progress(run_dir, {"event": "collected", "wall": T0, "scenarios": [
        {"feature": "failover", "scenario": "killed"}, {"feature": "deployment", "scenario": "ssl"}]})
    snap, notes = feed.poll(T0 + 1)
    assert snap.total == 2 and snap.n is None and "2 scenario(s) selected" in notes[0].text
    assert "no earlier run" in notes[0].text and snap.eta_unknown == 2

    progress(run_dir, {"event": "scenario", "wall": T0 + 1, "n": 1, "feature": "failover", "scenario": "killed",
                       "dir": "scenarios/failover--kill", "steps": 5},
             {"event": "step", "wall": T0 + 2, "n": 1, "index": 3, "steps": 5,
              "step": "When the PostgreSQL primary is killed"})
    append(state / "faults" / "active.json", partial=json.dumps([{"kind": "kill_member", "target": "pg1"}]))
    append(scenario / "history" / "faults.jsonl", {"kind": "fault", "name": "kill_member", "target": "pg1",
                                                   "phase": "inject", "wall": T0 + 3, "mono": 3})
    append(scenario / "roles.jsonl", {"wall": T0 + 3, "members": {"pg1": "down", "pg2": "primary"}})
    append(scenario / "history" / "ops-w1-9.jsonl",
           *[{**op("postgres", "transfer", kind, T0 + 2 + i / 10), "id": f"w:{i}"}
             for i in range(10) for kind in ("invoke", "ok")])
    snap, notes = feed.poll(T0 + 4)
    assert (snap.n, snap.step_index, snap.steps, snap.phase) == (1, 3, 5, "running")
    assert snap.step == "When the PostgreSQL primary is killed"
    assert snap.fault is not None and (snap.fault.name, snap.fault.target) == ("kill_member", "pg1")
    assert snap.roles == {"pg1": "down", "pg2": "primary"} and snap.writes["postgres"].ok_total == 10
    assert [n.text for n in notes] == ["start: failover: killed (never run before)", "fault: kill_member on pg1"]

    (state / "faults" / "active.json").write_text("[]")  # the heal undid it
    progress(run_dir, {"event": "teardown", "wall": T0 + 30, "n": 1})
    snap, notes = feed.poll(T0 + 31)
    assert snap.fault is None and snap.phase == "ending"
    assert [n.text for n in notes] == ["ending: heal, stop the load, read back, check",
                                       "fault undone: kill_member on pg1 after 28 s"]

    (scenario / "result.json").write_text(json.dumps({"status": "failed", "rto_seconds": 20.25, "rpo_seconds": 0,
                                                      "lost_writes": 0, "acked_writes": 10,
                                                      "deviations": ["failed step: Then x (line 9): boom"]}))
    progress(run_dir, {"event": "done", "wall": T0 + 40, "n": 1, "status": "failed"},
             {"event": "done", "wall": T0 + 41, "n": 2, "status": "skipped"}, {"event": "finished", "wall": T0 + 41})
    snap, notes = feed.poll(T0 + 42)
    assert notes[0].text == ("failed in 39 s: failover: killed (RTO 20.2 s, RPO 0.0 s, 0 lost of 10); "
                             "failed step: Then x (line 9): boom")
    assert notes[1].text.startswith("skipped in 0 s: deployment: ssl")
    assert snap.counts == {"passed": 0, "failed": 1, "skipped": 1} and snap.phase == "finished"


def test_a_fault_with_a_heal_record_is_undone_by_it(run):
    run_dir, state = run
    scenario = run_dir / "scenarios" / "failover--kill"
    feed = RunFeed(run_dir, state, estimates.Estimates(), started=T0)
    progress(run_dir, {"event": "scenario", "wall": T0, "n": 1, "feature": "f", "scenario": "s",
                       "dir": "scenarios/failover--kill"})
    fault = {"kind": "fault", "name": "switchover", "target": "pg1", "wall": T0 + 1, "mono": 1}
    append(scenario / "history" / "faults.jsonl", {**fault, "phase": "inject"})
    assert feed.poll(T0 + 2)[0].fault.name == "switchover"  # never in the ledger, still in force
    append(scenario / "history" / "faults.jsonl", {**fault, "phase": "heal", "wall": T0 + 5})
    snap, notes = feed.poll(T0 + 6)
    assert snap.fault is None and snap.last_fault.undone_wall == T0 + 5
    assert notes[-1].text == "fault undone: switchover on pg1 after 4 s"


def test_eta_from_earlier_runs(run, tmp_path):
    run_dir, state = run
    reports = tmp_path / "reports"
    make_run(reports, run_id="old1", started_at="2025-11-01T00:00:00.000Z", with_allure=False)
    known = estimates.load(reports, exclude=run_dir)
    assert known.runs == 1 and known.by_scenario[("failover", "Primary freeze")].last_fault == ("primary_freeze", "pg1")
    known.by_scenario[("failover", "Primary freeze")].durations += [30.0, 40.0, 50.0]
    feed = RunFeed(run_dir, state, known, started=T0)
    progress(run_dir, {"event": "collected", "wall": T0, "scenarios": [
        {"feature": "failover", "scenario": "Primary freeze"}, {"feature": "x", "scenario": "new"}]},
             {"event": "scenario", "wall": T0, "n": 1, "feature": "failover", "scenario": "Primary freeze",
              "dir": "scenarios/failover--kill"})
    snap, notes = feed.poll(T0 + 10)
    assert snap.eta_seconds == pytest.approx(30.0) and snap.eta_unknown == 1
    assert "expected ~40 s from earlier runs, plus 1 never run before" in notes[0].text
    snap, _ = feed.poll(T0 + 60)  # over its estimate: the rest is unknown, never negative
    assert snap.eta_seconds == 0 and snap.eta_unknown == 1


def test_unreadable_earlier_run_is_passed_over_and_named(tmp_path):
    reports = tmp_path / "reports"
    make_run(reports, run_id="good", with_allure=False)
    (reports / "bad").mkdir()
    (reports / "bad" / "results.json").write_text("{not json")
    found = estimates.load(reports)
    assert found.runs == 1 and len(found.skipped) == 1 and "bad/results.json" in found.skipped[0]


def test_median_of_the_last_runs():
    past = estimates.Past(durations=[100.0, 10.0, 11.0, 12.0, 13.0, 50.0])
    assert past.expected_seconds == 12.0  # the 100 s run is older than the last five; 50 s is one slow run
    assert estimates.human(None) == "?" and estimates.human(44.6) == "45 s" and estimates.human(190) == "3m10s"
    assert estimates.human(3720) == "1h02m"


def test_plain_lines_and_modes():
    from waqiti_drill.suite.livestate import Note

    line = plain_line(Note(T0, 3, "fault: kill_member on pg1"), 10)
    assert line == "2025-11-25T18:00:00.000Z [3/10] fault: kill_member on pg1"
    assert plain_line(Note(T0, None, "10 scenario(s)"), 10) == "2025-11-25T18:00:00.000Z 10 scenario(s)"
    assert choose_mode("auto", False, True) == "live" and choose_mode("auto", False, False) == "plain"
    assert choose_mode("live", True, True) == "quiet" and choose_mode("pytest", False, False) == "pytest"


def test_the_panel_shows_what_is_broken_where_and_for_how_long(run):
    from rich.console import Console

    run_dir, state = run
    scenario = run_dir / "scenarios" / "failover--kill"
    feed = RunFeed(run_dir, state, estimates.Estimates(), started=T0)
    progress(run_dir, {"event": "collected", "wall": T0, "scenarios": [{"feature": "failover", "scenario": "k"}]},
             {"event": "scenario", "wall": T0, "n": 1, "feature": "failover", "scenario": "k",
              "dir": "scenarios/failover--kill", "steps": 4},
             {"event": "step", "wall": T0, "n": 1, "index": 2, "steps": 4, "step": "When the primary is killed"})
    append(scenario / "history" / "faults.jsonl", {"kind": "fault", "name": "kill_member", "target": "pg2",
                                                   "phase": "inject", "wall": T0 + 1, "mono": 1})
    append(scenario / "roles.jsonl", {"wall": T0 + 1, "members": {"pg1": "replica", "pg2": "down"}})
    ops = [{**op("postgres", "transfer", kind, T0 + t), "id": f"w:{t}"}
           for t, end in ((0.5, "ok"), (10, "info")) for kind in ("invoke", end)]
    ops.append({**op("postgres", "transfer", "invoke", T0 + 11), "id": "w:open", "mono": 1.0})
    append(scenario / "history" / "ops-w1-1.jsonl", *ops)
    snap, _ = feed.poll(T0 + 12, 13.0)
    console = Console(width=100, record=True, color_system=None)
    console.print(panel(snap, T0 + 12))
    text = console.export_text()
    for fragment in ("1 of 1", "2/4  When the primary is killed", "kill_member on pg2, in force for 11 s",
                     "postgres 0 ok/s, 0 errors/s, a write waiting 12 s (1 acked, 1 failed or unknown)",
                     "pg1 replica  pg2 down", "ETA unknown"):
        assert fragment in text, text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_fault_records_are_read_by_the_checkers_parser_and_a_bad_one_is_said_once(run):
    """A fault record the checker would refuse (here a phase it does not know) is not shown as a fault; the view
    says once which line, and the records after it still come through."""
    run_dir, state = run
    scenario = run_dir / "scenarios" / "failover--kill"
    feed = RunFeed(run_dir, state, estimates.Estimates(), started=T0)
    progress(run_dir, {"event": "scenario", "wall": T0, "n": 1, "feature": "f", "scenario": "s",
                       "dir": "scenarios/failover--kill"})
    fault = {"kind": "fault", "name": "kill_member", "target": "pg1", "wall": T0 + 1, "mono": 1}
    append(scenario / "history" / "faults.jsonl", {**fault, "phase": "broken"})
    snap, notes = feed.poll(T0 + 2)
    assert snap.fault is None
    said = [n.text for n in notes if n.text.startswith("fault records: ")]
    assert len(said) == 1 and "faults.jsonl:1: unknown fault phase 'broken'" in said[0]
    append(scenario / "history" / "faults.jsonl", {**fault, "phase": "inject", "wall": T0 + 3})
    snap, notes = feed.poll(T0 + 4)
    assert snap.fault is not None and snap.fault.injected_wall == T0 + 3
    assert [n.text for n in notes] == ["fault: kill_member on pg1"], "said once, not every poll"
