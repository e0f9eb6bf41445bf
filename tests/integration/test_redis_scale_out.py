"""Redis scale-out under load: a fourth master (and its replica) added and the slots rebalanced onto it
while Locust writes sessions and counters, then its slots moved back and both nodes removed; nothing
acknowledged is lost and the platform is the spec's 3 + 3 again. `drill heal` removes what a killed
drill left (the action writes the ledger first).

Run with `-s` to see the figures.
"""

from __future__ import annotations

import time

import pytest

from tests.integration.stackutil import AckedWrites, faults_configuration
from waqiti_drill.checker import check
from waqiti_drill.config import Targets
from waqiti_drill.faults import actions, health
from waqiti_drill.platform.redis_slots import TOTAL_SLOTS, slot_counts
from waqiti_drill.workload.runner import LoadSpec
from waqiti_drill.workload.session import LoadSession

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_master_added_and_removed_under_load_loses_nothing(stack, tmp_path):
    platform = stack.platform()
    configuration = faults_configuration(stack, platform, tmp_path)
    with LoadSession(platform, tmp_path, LoadSpec(profile="steady", users=6, services=("redis",))) as session:
        writes = AckedWrites(session.history_dir)
        writes.wait_more(200)
        joined = time.monotonic()
        added = actions.add_redis_master(configuration=configuration)["added"]  # the real action: ledger, record
        grown = time.monotonic()
        counts = slot_counts(platform.redis_status())
        assert len(counts) == 4 and sum(counts.values()) == TOTAL_SLOTS, counts
        assert len(platform.redis_status().nodes) == 8, "the new master came with a replica"
        assert abs(counts[added] - TOTAL_SLOTS / 4) <= 0.02 * TOTAL_SLOTS / 4, counts
        assert health.problems(platform) != [], "four serving masters is not the spec's cluster"
        writes.wait_more(100)
        removing = time.monotonic()
        healed = actions.heal(configuration=configuration)  # the undo from the ledger: slots back, both removed
        shrunk = time.monotonic()
        assert "add_redis_master redis" in healed["undone"], healed
        writes.wait_more(100)
    session.read_back()
    after = slot_counts(platform.redis_status())
    assert added not in {n.address for n in platform.redis_status().nodes}
    assert len(after) == 3 and sum(after.values()) == TOTAL_SLOTS, after
    result = check(session.history_dir, Targets())
    r = result.services["redis"]
    print(f"scale-out: added and rebalanced in {grown - joined:.1f}s, removed by the heal in {shrunk - removing:.1f}s; "
          f"RTO {r.rto_seconds:.2f}s, lost {r.lost} of {r.acked_writes}")
    for name, shard in r.shards.items():
        print(f"  shard {name}: RTO {shard.rto_seconds}s, {shard.affected_writes} affected write(s), "
              f"outage {shard.outage_began_seconds}..{shard.recovered_seconds}s after the fault")
    assert r.lost == 0 and r.unexpected == 0 and r.acked_writes > 100
    assert health.problems(platform) == []


def test_drill_heal_removes_a_master_a_killed_drill_left(stack):
    platform = stack.platform()
    configuration = faults_configuration(stack, platform, None)
    added = actions.add_redis_master(configuration=configuration)["added"]  # and the drill dies here
    result = stack.drill("heal", timeout=600)
    assert result.returncode == 0, result.stderr
    assert "undone: add_redis_master redis" in result.stdout
    assert added not in {n.address for n in platform.redis_status().nodes}
    assert len(platform.redis_status().nodes) == 6
    assert health.problems(platform) == []
