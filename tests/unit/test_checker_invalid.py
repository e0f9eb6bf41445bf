"""A history the checker cannot fully account for is refused with InvalidHistory naming file:line."""

from __future__ import annotations

import json

import pytest

from tests.histories import FAULT_MONO, FAULT_WALL, HistoryBuilder
from waqiti_drill.checker import check
from waqiti_drill.config import Targets
from waqiti_drill.errors import DrillError, InvalidConfig, InvalidHistory


def valid(tmp_path) -> HistoryBuilder:
    """Four good lines in w1.jsonl (two transfers), a fault and the final read."""
    h = HistoryBuilder(tmp_path / "run")
    h.fault()
    a = h.op("transfer", -1, -0.9)
    b = h.op("transfer", 1, 1.1)
    h.final_transfers([a["tid"], b["tid"]])
    h.final_done("postgres")
    return h


def op(op_id: object, typ: str, f: str = "transfer", value: object = None, **extra: object) -> str:
    service = "redis" if f in ("session", "incr") else "postgres"
    record = {"kind": "op", "id": op_id, "proc": "w1-u1", "service": service,
              "shard": "127.0.0.1:25501" if service == "redis" else "postgres", "type": typ, "f": f,
              "wall": FAULT_WALL + 2, "mono": FAULT_MONO + 2, "value": value if value is not None else {}}
    record.update(extra)
    return json.dumps(record)


def append(h: HistoryBuilder, name: str, *lines: str, newline: bool = True) -> tuple[str, int]:
    """Append raw lines to a built file; returns (path, number of the first appended line)."""
    path = h.file(name)
    before = path.read_text().count("\n")
    with open(path, "a") as fh:
        fh.write("\n".join(lines) + ("\n" if newline else ""))
    return str(path), before + 1


def refused(h: HistoryBuilder) -> str:
    with pytest.raises(InvalidHistory) as info:
        check(h.root, Targets())
    assert isinstance(info.value, DrillError) and InvalidHistory.exit_code == 9
    return str(info.value)


TID = {"tid": 77, "from": 1, "to": 2, "amount": 3}


@pytest.mark.parametrize(("lines", "offset", "fragment"), [
    (['{"kind": "op", "id": "x"'], 0, "not valid JSON"),
    (["{not json"], 0, "not valid JSON"),
    (["[1, 2]"], 0, "unknown record kind None"),
    (['{"kind": "gossip"}'], 0, "unknown record kind 'gossip'"),
    ([op("w1:9", "invoke", value=TID), op("w1:9", "maybe")], 1, "unknown operation type 'maybe'"),
    ([json.dumps({"kind": "op", "id": "w1:9", "type": "invoke"})], 0, "op record lacks service, shard, f, wall, mono"),
    ([op("w1:9", "ok")], 0, "completion (ok) of operation 'w1:9' with no invoke before it"),
    ([op("w1:9", "invoke", value=TID), op("w1:9", "ok"), op("w1:9", "ok")], 2,
     "second completion (ok) of operation 'w1:9'; it already completed at line"),
    ([op("w1:9", "invoke", value=TID), op("w1:9", "invoke", value=TID)], 1, "second invoke of operation 'w1:9'"),
    ([op("w1:9", "invoke", value={"from": 1})], 0, "transfer invoke needs an integer value.tid, got None"),
    ([op("w1:9", "invoke", value={"tid": "77"})], 0, "transfer invoke needs an integer value.tid, got '77'"),
    ([op("w1:9", "invoke", value=[1])], 0, "transfer invoke lacks its value object"),
    ([op("w1:9", "invoke", f="session", value={"key": 5})], 0, "session invoke needs a string value.key, got 5"),
    ([op("w1:9", "invoke", f="incr", value={"key": "c:1"}), op("w1:9", "ok", f="incr", value={"result": "3"})], 1,
     "ok incr needs an integer value.result, got '3'"),
    ([op("w1:9", "invoke", f="incr", value={"key": "c:1"}), op("w1:9", "ok", f="incr")], 1,
     "ok incr needs an integer value.result, got None"),
    ([op("w1:9", "invoke", value=TID), op("w1:9", "ok", shard="elsewhere")], 1, "its invoke at line"),
    ([op("w1:9", "invoke", value=TID, mono="soon")], 0, "wall and mono must be numbers"),
    ([op(9, "invoke", value=TID)], 0, "operation id must be a string"),
])
def test_bad_line_in_an_operation_file(tmp_path, lines, offset, fragment):
    h = valid(tmp_path)
    h.build()
    path, first = append(h, "w1", *lines)
    message = refused(h)
    assert message.startswith(f"{path}:{first + offset}: "), message
    assert fragment in message


def test_truncated_last_line(tmp_path):
    h = valid(tmp_path)
    h.build()
    path, first = append(h, "w1", op("w1:9", "invoke", value=TID), '{"kind": "op", "id": "w1:9", "ty', newline=False)
    assert refused(h) == f"{path}:{first + 1}: truncated line (no newline at end of file)"


@pytest.mark.parametrize(("record", "fragment"), [
    ({"kind": "fault", "name": "x", "target": "pg1", "phase": "during", "wall": 1.0, "mono": 1.0},
     "unknown fault phase 'during'"),
    ({"kind": "fault", "name": "x", "target": "pg1", "phase": "inject"}, "fault record lacks wall, mono"),
    ({"kind": "fault", "name": "x", "target": "pg1", "phase": "inject", "wall": 1, "mono": 1, "detail": [1]},
     "fault detail must be an object"),
    ({"kind": "final", "service": "postgres", "f": "transfer", "present": ["a"]}, "list of integer tids"),
    ({"kind": "final", "service": "redis", "f": "incr", "key": "c:1"}, "needs a string key and an integer value"),
    ({"kind": "final", "service": "redis", "f": "scan"}, "final record for unknown function 'scan'"),
    ({"kind": "final_done", "wall": 1, "mono": 1, "services": "postgres"}, "final_done needs a list of service"),
])
def test_bad_fault_or_final_record(tmp_path, record, fragment):
    h = valid(tmp_path)
    h.build()
    path, first = append(h, "final", json.dumps(record))
    message = refused(h)
    assert message.startswith(f"{path}:{first}: ") and fragment in message, message


def test_second_final_value_for_a_counter(tmp_path):
    h = valid(tmp_path)
    h.final_counter("c:1", 1)
    h.build()
    path, first = append(h, "final", json.dumps({"kind": "final", "service": "redis", "f": "incr", "key": "c:1",
                                                 "value": 2}))
    message = refused(h)
    assert message.startswith(f"{path}:{first}: second final value for counter 'c:1' (first at {path}:")


def test_no_fault_record(tmp_path):
    h = HistoryBuilder(tmp_path / "run")
    h.op("transfer", -1, -0.9)
    h.final_done("postgres")
    assert refused(h) == (f"{h.build()}: no fault record (kind=fault, phase=inject); cannot measure RTO/RPO "
                          "without the fault instant")


def test_only_a_heal_record_is_no_fault_instant(tmp_path):
    h = HistoryBuilder(tmp_path / "run")
    h.fault(phase="heal")
    h.op("transfer", -1, -0.9)
    h.final_done("postgres")
    h.build()
    assert "no fault record (kind=fault, phase=inject)" in refused(h)


def test_missing_final_read_back(tmp_path):
    h = HistoryBuilder(tmp_path / "run")
    h.fault()
    h.op("transfer", -1, -0.9)
    h.op("session", -1, -0.9)
    h.final_done("postgres")
    h.build()
    message = refused(h)
    assert "the final read-back is missing for redis" in message and "postgres" not in message.split("for ")[1]


def test_reads_alone_need_no_final_read(tmp_path):
    h = HistoryBuilder(tmp_path / "run")
    h.fault()
    h.op("balance", -1, -0.9)
    assert check(h.build(), Targets()).passed is True


def test_duplicate_tid_names_both_lines(tmp_path):
    h = HistoryBuilder(tmp_path / "run")
    h.fault()
    h.op("transfer", -2, -1.9, tid=5)
    h.op("transfer", -1, -0.9, tid=5, proc="w2")
    h.final_transfers([5])
    h.final_done("postgres")
    h.build()
    assert refused(h) == (f"{h.file('w2')}:1: transfer tid 5 invoked again (first at {h.file('w1')}:1); "
                          "tids are unique in a run")


def test_duplicate_session_key(tmp_path):
    h = HistoryBuilder(tmp_path / "run")
    h.fault()
    h.op("session", -2, -1.9, key="s:a:1")
    h.op("session", -1, -0.9, key="s:a:1")
    h.final_sessions([])
    h.final_done("redis")
    h.build()
    assert refused(h).startswith(f"{h.file('w1')}:3: session key 's:a:1' invoked again (first at {h.file('w1')}:1)")


def test_counter_without_a_final_value(tmp_path):
    h = HistoryBuilder(tmp_path / "run")
    h.fault()
    h.op("incr", -1, -0.9, key="c:4", result=1)
    h.final_done("redis")
    h.build()
    assert refused(h) == (f"{h.file('w1')}:1: counter 'c:4' of redis was incremented but the final read-back has "
                          "no value for it")


def test_no_history_files(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidHistory, match=r"no history files \(\*\.jsonl\)"):
        check(tmp_path / "empty", Targets())
    with pytest.raises(InvalidHistory, match="no such file or directory"):
        check(tmp_path / "missing.jsonl", Targets())


def test_no_operations(tmp_path):
    h = HistoryBuilder(tmp_path / "run")
    h.fault()
    with pytest.raises(InvalidHistory, match="no operations in the history"):
        check(h.build(), Targets())


def test_one_file_can_be_checked_on_its_own(tmp_path):
    h = valid(tmp_path)
    root = h.build()
    single = tmp_path / "all.jsonl"
    single.write_text("".join(p.read_text() for p in sorted(root.glob("*.jsonl"))))
    result = check(single, Targets())
    assert result.files == [str(single)] and result.operations == 2 and result.passed is True


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"slow_seconds": 0}, "slow threshold"), ({"slow_seconds": float("nan")}, "slow threshold"),
    ({"mode": "sideways"}, "RPO mode must be one of failover, restore"),
])
def test_bad_arguments(tmp_path, kwargs, fragment):
    with pytest.raises(InvalidConfig, match=fragment):
        check(valid(tmp_path).build(), Targets(), **kwargs)


def test_bad_rpo_mode_in_the_fault_record(tmp_path):
    h = HistoryBuilder(tmp_path / "run")
    h.fault(rpo_mode="sideways")
    h.op("balance", -1, -0.9)
    h.build()
    assert refused(h).startswith(f"{h.file('faults')}:1: fault detail rpo_mode must be one of failover, restore")
