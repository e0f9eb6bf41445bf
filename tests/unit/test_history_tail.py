"""The history read as it grows (HistoryTail): the same parser as the checker, fed only what was appended,
so live counts (steady-state waits, the abort guard, progress) are the checker's own counts."""

from __future__ import annotations

import orjson
import pytest

from tests.histories import FAULT_MONO, HistoryBuilder
from waqiti_drill.checker.load import HistoryTail, WriteCounts, error_ratio, load
from waqiti_drill.errors import InvalidHistory


def _lines(path):
    return path.read_bytes().splitlines(keepends=True)


def test_partial_lines_wait_and_counts_match_the_full_load(tmp_path):
    source = HistoryBuilder(tmp_path / "src")
    source.steady("transfer", -2.0, 0.0)
    source.op("transfer", 0.1, 0.3, "fail")
    source.op("transfer", 0.2, 1.5, "info")
    source.op("session", 0.3, None)  # still open
    source.op("balance", 0.4, 0.5)  # a read: not counted among writes
    built = source.build() / "w1.jsonl"
    live = tmp_path / "live"
    live.mkdir()
    target = live / "ops-w1.jsonl"
    tail = HistoryTail(live)
    assert tail.poll().acked == 0  # no file yet
    data = built.read_bytes()
    cut = len(_lines(built)[0]) + 7  # one whole line and part of the next
    target.write_bytes(data[:cut])
    assert tail.poll().services["postgres"].open == 1  # the partial second line is not parsed yet
    with open(target, "ab") as fh:
        fh.write(data[cut:])
    counts = tail.poll()
    pg, redis = counts.services["postgres"], counts.services["redis"]
    assert (pg.acked, pg.failed, pg.unknown, pg.open) == (8, 1, 1, 0)
    assert (redis.acked, redis.open, redis.oldest_open_mono) == (0, 1, FAULT_MONO + 0.3)
    full = load(live)
    ok = sum(c[0] for g, c in zip(full.groups, full.counts, strict=True) if g[2] != "balance")
    assert counts.acked == ok == 8


def test_a_corrupt_line_is_refused_live_as_the_checker_would(tmp_path):
    (tmp_path / "ops-w1.jsonl").write_bytes(orjson.dumps({"kind": "op", "id": "w1:1"}) + b"\n")
    with pytest.raises(InvalidHistory, match=r"ops-w1.jsonl:1: op record lacks"):
        HistoryTail(tmp_path).poll()


@pytest.mark.parametrize(("before", "now", "expected"), [
    (WriteCounts(acked=100), WriteCounts(acked=140, failed=30, unknown=30), 0.6),
    (WriteCounts(acked=100), WriteCounts(acked=150), 0.0),
    (WriteCounts(acked=100, open=4, oldest_open_mono=99.0), WriteCounts(acked=100, open=4, oldest_open_mono=99.0),
     1.0),  # nothing completed and writes stuck for longer than the window: the clients are blocked
    (WriteCounts(acked=100), WriteCounts(acked=100), None),  # no writes at all: no verdict
    (WriteCounts(acked=100, open=1, oldest_open_mono=101.5), WriteCounts(acked=100, open=1,
                                                                        oldest_open_mono=101.5), None),
])
def test_the_abort_guards_error_ratio(before, now, expected):
    ratio = error_ratio(before, now, now_mono=102.0, window=2.0)
    assert ratio == (pytest.approx(expected) if expected is not None else None)


def test_the_read_back_instant_and_the_fault_records_come_from_the_one_parser(tmp_path):
    """What the evidence calls "data validated" (the last final_done) and the fault records a scenario is
    measured from are read by the checker's parser, not by a second reader of the files."""
    from tests.histories import FAULT_WALL
    from waqiti_drill.checker.load import load_faults

    h = HistoryBuilder(tmp_path)
    h.op("transfer", -1.0, -0.9)
    h.fault("kill_member", "pg1")
    h.final_transfers([1])
    h.final_done("postgres")
    h.build()
    assert load(tmp_path).final_done_wall == FAULT_WALL + 100
    assert [(f.name, f.target, f.phase, f.wall) for f in load_faults(tmp_path)] == [
        ("kill_member", "pg1", "inject", FAULT_WALL)]
    assert load_faults(tmp_path / "nothing") == []
