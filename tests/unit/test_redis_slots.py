"""Which slot move is asked, and which is refused, decided from a RedisStatus alone (no stack)."""

from __future__ import annotations

import json

import pytest

from waqiti_drill.errors import InvalidConfig
from waqiti_drill.platform.base import RedisNode, RedisStatus
from waqiti_drill.platform.redis_slots import open_slots, plan_move, slot_counts


def _status(*slots: list[list[int]], state: str = "ok") -> RedisStatus:
    nodes = []
    for i, ranges in enumerate(slots, start=1):
        nodes.append(RedisNode(f"127.0.0.1:{7000 + i}", f"m{i}", "master", None, ranges, True))
        nodes.append(RedisNode(f"127.0.0.1:{7100 + i}", f"r{i}", "replica", f"m{i}", [], True))
    covered = sum(e - s + 1 for ranges in slots for s, e in ranges)
    return RedisStatus(nodes, state, covered)


BALANCED = _status([[0, 5460]], [[5461, 10922]], [[10923, 16383]])
SKEWED = _status([[0, 3460]], [[3461, 10922]], [[10923, 16383]])  # 3461, 7462, 5461


def test_defaults_move_from_the_master_with_most_slots_to_the_one_with_fewest():
    move = plan_move(SKEWED, None, None, 1000)
    assert (move.source.address, move.target.address, move.count) == ("127.0.0.1:7002", "127.0.0.1:7001", 1000)
    assert slot_counts(SKEWED) == {"127.0.0.1:7001": 3461, "127.0.0.1:7002": 7462, "127.0.0.1:7003": 5461}


def test_named_source_and_target_are_kept():
    move = plan_move(BALANCED, "127.0.0.1:7003", "127.0.0.1:7001", 2000)
    assert (move.source.node_id, move.target.node_id) == ("m3", "m1")


def test_a_default_target_is_never_the_named_source():
    move = plan_move(SKEWED, "127.0.0.1:7001", None, 10)
    assert move.target.address != "127.0.0.1:7001"


@pytest.mark.parametrize(
    ("source", "target", "count", "fragment"),
    [
        ("127.0.0.1:9999", None, 10, "unknown Redis node '127.0.0.1:9999' as source"),
        (None, "127.0.0.1:9999", 10, "unknown Redis node '127.0.0.1:9999' as target"),
        ("127.0.0.1:7101", None, 10, "source 127.0.0.1:7101 is not a master"),
        (None, "127.0.0.1:7102", 10, "target 127.0.0.1:7102 is not a master"),
        ("127.0.0.1:7001", "127.0.0.1:7001", 10, "same master 127.0.0.1:7001"),
        ("127.0.0.1:7001", None, 0, "between 1 and 5461"),
        ("127.0.0.1:7001", None, 5462, "between 1 and 5461"),
        (None, None, -3, "between 1 and 5462"),
        (None, None, "2000", "whole number"),
        (None, None, True, "whole number"),
    ],
)
def test_bad_arguments_are_refused_in_one_line(source, target, count, fragment):
    with pytest.raises(InvalidConfig) as err:
        plan_move(BALANCED, source, target, count)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_a_cluster_that_is_not_ok_is_refused():
    broken = _status([[0, 5460]], [[5461, 10922]], [[10923, 16000]], state="fail")
    with pytest.raises(InvalidConfig, match=r"not ok \(fail, 16001/16384 slots\)"):
        plan_move(broken, None, None, 10)


def test_open_slots_are_the_migrating_and_importing_markers():
    text = (
        "m1 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460 [93->-m2]\n"
        "m2 127.0.0.1:7002@17002 master - 0 0 2 connected 5461-10922 [93-<-m1]\n"
        "r1 127.0.0.1:7101@17101 slave m1 0 0 1 connected\n"
    )
    assert open_slots(text) == ["[93->-m2]", "[93-<-m1]"]
    assert open_slots(text.replace(" [93->-m2]", "").replace(" [93-<-m1]", "")) == []


class _FakePlatform:
    """Just enough of a platform for the action: a status that changes when slots are moved."""

    def __init__(self, status: RedisStatus) -> None:
        self.status, self.moves = status, []

    def redis_status(self) -> RedisStatus:
        return self.status

    def move_slots(self, source: str, target: str, count: int) -> int:
        self.moves.append((source, target, count))
        return count


def _configuration(tmp_path, fake):
    """The chaostoolkit configuration of a stack whose engine acts on `fake` (a drill adopts its platform so)."""
    from waqiti_drill.config import Settings
    from waqiti_drill.faults import context

    settings = Settings(state_dir=tmp_path / "state")
    settings.state_dir.mkdir(exist_ok=True)  # the drill lock lives in it
    context.adopt(settings, None, fake)
    return context.configuration_for(settings, None, tmp_path)


def test_the_action_records_inject_and_heal_around_the_move_and_keeps_out_of_the_ledger(tmp_path):
    from waqiti_drill.faults import actions
    from waqiti_drill.faults.ledger import FaultLedger

    fake = _FakePlatform(SKEWED)
    done = actions.move_redis_slots(500, configuration=_configuration(tmp_path, fake))
    assert fake.moves == [("127.0.0.1:7002", "127.0.0.1:7001", 500)]
    assert FaultLedger(tmp_path / "state").active() == [], "a reshard is not in the ledger"
    assert done["moved"] == 500 and done["to"] == "127.0.0.1:7001" and done["target"] == "127.0.0.1:7002"
    records = [json.loads(line) for line in (tmp_path / "history" / "faults.jsonl").read_text().splitlines()]
    assert [(r["name"], r["phase"]) for r in records] == [("move_redis_slots", "inject"), ("move_redis_slots", "heal")]


def test_the_action_refuses_bad_arguments_before_recording_anything(tmp_path):
    from waqiti_drill.faults import actions

    with pytest.raises(InvalidConfig, match="same master"):
        actions.move_redis_slots(10, "127.0.0.1:7001", "127.0.0.1:7001",
                                 configuration=_configuration(tmp_path, _FakePlatform(BALANCED)))
    assert not (tmp_path / "history").exists()
