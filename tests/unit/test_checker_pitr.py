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
