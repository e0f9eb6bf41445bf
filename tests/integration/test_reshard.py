"""Redis resharding under load: 2000 slots and their keys migrated between two masters while Locust
writes sessions and counters; clients follow ASK/MOVED, nothing acknowledged is lost, every shard's
RTO is reported, and a rebalance evens the slots out again with the platform healthy; `drill heal`
cleans up after a reshard cut short by a killed harness.

Run with `-s` to see the figures (time to move, per-shard RTO and longest gap).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from redis.cluster import key_slot

from tests.integration.stackutil import AckedWrites, faults_configuration
from waqiti_drill.checker import check
from waqiti_drill.config import Targets
from waqiti_drill.faults import actions, health
from waqiti_drill.platform.local.redis_cluster import RedisCluster
from waqiti_drill.platform.local.runas import make_dir
from waqiti_drill.platform.redis_slots import TOTAL_SLOTS, open_slots, plan_move, slot_counts
from waqiti_drill.workload.redis_ops import session_key
from waqiti_drill.workload.runner import LoadSpec
from waqiti_drill.workload.session import LoadSession

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLOTS = 2000


def _balanced(counts: dict[str, int]) -> bool:
    """Within redis-cli rebalance's default threshold: every master within 2% of an equal share."""
    share = TOTAL_SLOTS / len(counts)
    return sum(counts.values()) == TOTAL_SLOTS and all(abs(c - share) <= 0.02 * share for c in counts.values())


def _slots(status, address: str) -> set[int]:
    node = next(n for n in status.nodes if n.address == address)
    return {slot for start, end in node.slots for slot in range(start, end + 1)}


def _writes_to_moving_slots(history: Path, run_id: str, moved: set[int], since: float, until: float) -> list[float]:
    """Latencies of the acknowledged writes invoked during the move on keys whose slot was moved."""
    invoked: dict[str, dict] = {}
    latencies = []
    for path in history.glob("ops-*.jsonl"):
        for line in path.read_text().splitlines():
            op = json.loads(line)
            if op["service"] != "redis":
                continue
            if op["type"] == "invoke":
                invoked[op["id"]] = op
                continue
            inv = invoked[op["id"]]
            if (op["type"] == "ok" and since <= inv["mono"] <= until
                    and key_slot(session_key(run_id, inv["value"]["key"]).encode()) in moved):
                latencies.append(op["mono"] - inv["mono"])
    return latencies


def test_moving_2000_slots_under_load_loses_no_acknowledged_write_and_rebalances(stack, tmp_path):
    platform = stack.platform()
    before = platform.redis_status()
    move = plan_move(before, None, None, SLOTS)  # the master with most slots -> the one with fewest
    source, target = move.source.address, move.target.address
    configuration = faults_configuration(stack, platform, tmp_path)
    try:
        with LoadSession(platform, tmp_path, LoadSpec(profile="steady", users=6, services=("redis",))) as session:
            writes = AckedWrites(session.history_dir)
            writes.wait_more(200)
            moved = actions.move_redis_slots(SLOTS, source, target, configuration=configuration)["moved"]
            writes.wait_more(200)
        session.read_back()
        after = platform.redis_status()
        result = check(session.history_dir, Targets())
    finally:
        platform.rebalance_redis_slots()  # even when an assertion above fails, the session's stack is left balanced

    fault, done = (r for r in result.faults if r.name == "move_redis_slots")  # the action's inject and heal
    seconds = done.mono - fault.mono
    moved_slots = _slots(before, source) - _slots(after, source)
    hit = _writes_to_moving_slots(session.history_dir, session.run_id, moved_slots, fault.mono, done.mono)
    r = result.services["redis"]
    print(f"\nreshard: {moved} slots {source} -> {target} under load in {seconds:.1f} s; "
          f"{r.acked_writes} acknowledged writes, lost {r.lost}, unexpected {r.unexpected}, "
          f"info {r.info}, failed {r.failed}")
    print(f"reshard: {len(hit)} writes acknowledged during the move on keys in the slots being moved, "
          f"slowest {max(hit, default=0.0) * 1000:.0f} ms")
    for shard, scope in r.shards.items():
        print(f"reshard: shard {shard}: RTO {scope.rto_seconds} s, longest gap "
              f"{scope.longest_write_gap_seconds} s, affected writes {scope.affected_writes}")

    assert moved == SLOTS
    counts_before, counts_after = slot_counts(before), slot_counts(after)
    assert counts_after[source] == counts_before[source] - SLOTS
    assert counts_after[target] == counts_before[target] + SLOTS
    assert after.cluster_state == "ok" and after.slots_covered == TOTAL_SLOTS
    assert len(moved_slots) == SLOTS and moved_slots <= _slots(after, target)
    assert len(hit) > 10, "the load kept writing to the slots while they moved (ASK/MOVED followed)"

    assert r.acked_writes > 100
    assert r.lost == 0 and r.unexpected == 0, r
    assert len(r.shards) == 3
    assert all(scope.rto_seconds is not None for scope in r.shards.values()), r.shards
    assert result.passed is True, result.problems

    balanced = slot_counts(platform.redis_status())
    print(f"reshard: after rebalance {balanced}")
    assert _balanced(balanced), balanced
    assert health.problems(platform) == []


def test_drill_heal_stops_a_leftover_reshard_and_closes_the_slot_it_left_open(stack):
    """What a harness killed mid-reshard leaves: its redis-cli still running (cwd in the reshard
    directory; a stand-in process here) and a slot MIGRATING on one master, IMPORTING on another."""
    platform = stack.platform()
    cluster = RedisCluster(platform.context())
    make_dir(cluster.ctx.user, cluster.reshard_dir)
    leftover = subprocess.Popen(["sleep", "300"], cwd=cluster.reshard_dir)
    try:
        masters = sorted((n for n in platform.redis_status().nodes if n.role == "master"), key=lambda n: n.address)
        source, target = masters[0], masters[1]
        slot = source.slots[0][0]
        with cluster.client(target.address) as r:
            r.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source.node_id)
        with cluster.client(source.address) as r:
            r.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target.node_id)
        assert health.problems(platform) == [], "open slots do not make the cluster unhealthy: only heal sees them"

        heal = stack.drill("heal", timeout=600)
        assert heal.returncode == 0, heal.stdout + heal.stderr
        print(f"\nreshard: drill heal after a cut-short reshard:\n{heal.stdout}")
        assert f"undone: stopped a leftover redis-cli (pid {leftover.pid})" in heal.stdout
        assert "undone: closed open Redis slots" in heal.stdout and str(slot) in heal.stdout
        assert leftover.wait(10) is not None
    finally:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait()
    for address in cluster.addresses():
        with cluster.client(address) as r:
            assert open_slots(r.execute_command("CLUSTER", "NODES")) == [], address
    assert health.problems(platform) == []
    platform.rebalance_redis_slots()
    assert _balanced(slot_counts(platform.redis_status()))
