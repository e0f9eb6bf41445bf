"""Point-in-time recovery judged against the history: before the target present, after it absent."""

from __future__ import annotations

import pytest

from tests.histories import FAULT_WALL, HistoryBuilder
from waqiti_drill.checker.pitr import judge_point_in_time
from waqiti_drill.errors import InvalidHistory

TARGET = FAULT_WALL  # the builder's times are relative to this instant


def _history(tmp_path):
    h = HistoryBuilder(tmp_path)
    before = [h.op("transfer", t, t + 0.01, proc="ops-w1")["tid"] for t in (-3.0, -2.0, -1.0)]
    across = h.op("transfer", -0.005, 0.02, proc="ops-w1")["tid"]  # committed either side of the target
    after = [h.op("transfer", t, t + 0.01, proc="ops-w1")["tid"] for t in (1.0, 2.0)]
    failed = h.op("transfer", -0.5, -0.4, outcome="fail", proc="ops-w1")["tid"]
    h.build()
    return before, across, after, failed


def test_a_copy_holding_exactly_what_was_acknowledged_before_the_target_passes(tmp_path):
    before, across, _after, _failed = _history(tmp_path)
    for in_copy in (set(before), set(before) | {across}):
        verdict = judge_point_in_time(tmp_path, in_copy, TARGET)
        assert verdict.passed, verdict.problems()
        assert (verdict.acked_before, verdict.invoked_after, verdict.in_flight) == (3, 2, 1)


def test_a_missing_early_write_and_a_present_late_write_each_fail_and_are_named(tmp_path):
    before, _across, after, failed = _history(tmp_path)
    verdict = judge_point_in_time(tmp_path, set(before[1:]) | {after[0], failed}, TARGET)
    assert not verdict.passed
    assert verdict.missing_before == [before[0]]
    assert verdict.present_after == [after[0]]
    assert verdict.failed_present == [failed]
    assert len(verdict.problems()) == 3


def test_a_target_before_any_acknowledgement_proves_nothing(tmp_path):
    _history(tmp_path)
    verdict = judge_point_in_time(tmp_path, set(), TARGET - 60)
    assert not verdict.passed
    assert "proves nothing" in verdict.problems()[0]


def test_a_directory_without_operations_is_refused(tmp_path):
    with pytest.raises(InvalidHistory, match="no operation files"):
        judge_point_in_time(tmp_path, set(), TARGET)


def test_a_bad_line_is_refused_naming_file_and_line_as_the_checker_does(tmp_path):
    _history(tmp_path)
    with open(tmp_path / "ops-w1.jsonl", "a") as fh:
        fh.write('{"kind": "op", "id": "ops-w1:99", "type": "ok"}\n')
    with pytest.raises(InvalidHistory, match=r"ops-w1\.jsonl:15: op record lacks "):
        judge_point_in_time(tmp_path, set(), TARGET)


def test_only_transfers_are_judged_and_an_open_one_is_in_flight(tmp_path):
    h = HistoryBuilder(tmp_path)
    acked = h.op("transfer", -2.0, -1.9, proc="ops-w1")["tid"]
    h.op("incr", -2.0, -1.9, proc="ops-w1", result=1)  # a Redis write: nothing to do with the copy
    h.op("transfer", -1.0, None, proc="ops-w1")  # never completed: unknown outcome, either way is right
    h.build()
    verdict = judge_point_in_time(tmp_path, {acked}, TARGET)
    assert (verdict.acked_before, verdict.in_flight, verdict.invoked_after) == (1, 1, 0) and verdict.passed
