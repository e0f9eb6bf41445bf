"""Redis Cluster steps: resharding under load, rebalancing, a master killed and its replica promoted.

Faults go through the chaostoolkit actions, so the fault record (the checker's clock) lands in the
scenario's history; the checker reports RTO and lost writes per shard (a cluster is down for the keys of
any shard that is down, and a global write gap would hide it).
"""

from __future__ import annotations

from typing import Any

from pytest_bdd import parsers, then, when

from waqiti_drill.faults import actions, probes
from waqiti_drill.platform.redis_slots import TOTAL_SLOTS, slot_counts
from waqiti_drill.suite.drill import ScenarioDrill
from waqiti_drill.waiting import wait_until

from .common import remember


def counts(drill: ScenarioDrill) -> dict[str, int]:
    return slot_counts(drill.platform.redis_status())


@when(parsers.parse("{count:d} slots are moved from the busiest master to the least busy one"),
      target_fixture="fault")
def move_slots(drill: ScenarioDrill, count: int) -> dict[str, Any]:
    done = actions.move_redis_slots(count=count, configuration=drill.configuration)
    drill.measurements["slots_moved"] = done["moved"]
    drill.measurements["move_seconds"] = done["seconds"]
    return done


@then(parsers.parse("the moved slots are served by their new master"))
def moved_slots_served(drill: ScenarioDrill, fault: dict[str, Any]) -> None:
    before, after = fault["slots_before"], fault["slots_after"]
    target, moved = fault["to"], fault["moved"]
    assert moved == drill.measurements["slots_moved"] and moved > 0, f"no slot moved ({fault})"
    assert after[target] == before[target] + moved, f"{target} serves {after[target]} slots, expected " \
        f"{before[target]} + {moved}"


@then(parsers.parse("the cluster serves all 16384 slots within {seconds:g} seconds"))
def all_slots_served(drill: ScenarioDrill, seconds: float) -> None:
    wait_until(lambda: (probes.redis_all_slots_served(drill.configuration), counts(drill)), seconds,
               f"the Redis Cluster to be ok with all {TOTAL_SLOTS} slots served by reachable masters", interval=0.5)


@when("the Redis slots are rebalanced")
def rebalance(drill: ScenarioDrill) -> None:
    done = actions.rebalance_redis(configuration=drill.configuration)
    drill.measurements["rebalance_seconds"] = done["seconds"]


@then(parsers.parse("every master serves {low:d} to {high:d} slots"))
def even_slots(drill: ScenarioDrill, low: int, high: int) -> None:
    served = counts(drill)
    assert served, "no connected master serves slots"
    off = {a: n for a, n in served.items() if not low <= n <= high}
    assert not off, f"masters outside {low}..{high} slots: {off} (all: {served})"


@when("a Redis master is killed", target_fixture="fault")
def kill_master(drill: ScenarioDrill) -> dict[str, Any]:
    status = drill.platform.redis_status()
    masters = sorted((n for n in status.nodes if n.role == "master" and n.slots), key=lambda n: n.address)
    victim = masters[0]
    replicas = [n.address for n in status.nodes if n.master_id == victim.node_id]
    remember(drill, "killed_master", victim.address)
    remember(drill, "its_replicas", replicas)
    return actions.kill_redis_master(address=victim.address, configuration=drill.configuration)


@then(parsers.parse("its replica is promoted within {seconds:g} seconds"))
def replica_promoted(drill: ScenarioDrill, seconds: float) -> None:
    replicas = set(drill.notes["its_replicas"])

    def promoted() -> tuple[bool, str]:
        nodes = drill.platform.redis_status().nodes
        now = {n.address: (n.role, bool(n.slots), n.connected) for n in nodes}
        return any(now.get(a, ("?", False, False)) == ("master", True, True) for a in replicas), str(now)

    wait_until(promoted, seconds, f"a replica of {drill.notes['killed_master']} ({', '.join(sorted(replicas))}) "
               "to serve its slots as master", interval=0.5)


@then(parsers.parse("the old master rejoins as a replica within {seconds:g} seconds"))
def old_master_rejoins(drill: ScenarioDrill, seconds: float) -> None:
    old = drill.notes["killed_master"]

    def rejoined() -> tuple[bool, str]:
        node = {n.address: n for n in drill.platform.redis_status().nodes}.get(old)
        return node is not None and node.role == "replica" and node.connected, str(node)

    wait_until(rejoined, seconds, f"{old} to be a connected replica", interval=0.5)


@then("every shard recovers within the RTO target and loses no acknowledged write")
def every_shard(drill: ScenarioDrill) -> None:
    """Per shard, not per cluster: the checker's shards are the slot owners the clients were routed to."""
    result = drill.require_check()
    target = drill.settings.targets.rto_seconds
    redis = result.services.get("redis")
    shards = redis.shards if redis is not None else {}
    assert shards, "no Redis shard saw a write"
    slow = {s: v.rto_seconds for s, v in shards.items() if v.rto_seconds is None or v.rto_seconds > target}
    assert not slow, f"shards over the RTO target {target:g}s (None: never recovered): {slow}"
    lost = {s: v.lost for s, v in shards.items() if v.lost}
    assert not lost, f"acknowledged writes lost per shard: {lost}"


@when("a new master joins the cluster and the slots are rebalanced onto it", target_fixture="fault")
def add_master(drill: ScenarioDrill) -> dict[str, Any]:
    """A seventh node joins as a master (an eighth as its replica) under load; the heal removes both."""
    done = actions.add_redis_master(configuration=drill.configuration)
    drill.measurements["added_master"] = done["added"]
    drill.measurements["add_and_rebalance_seconds"] = done["seconds"]
    return done


@then(parsers.parse("{count:d} masters serve slots, the new one included"))
def masters_serve(drill: ScenarioDrill, fault: dict[str, Any], count: int) -> None:
    served = counts(drill)
    assert len(served) == count and served.get(fault["added"], 0) > 0, f"slots per master: {served}"


@then(parsers.parse("after the heal the cluster is back to {count:d} masters with all 16384 slots"))
def back_to_spec(drill: ScenarioDrill, count: int) -> None:
    drill.finish()
    served = counts(drill)
    assert len(served) == count and sum(served.values()) == TOTAL_SLOTS, f"slots per master: {served}"
    assert drill.measurements["added_master"] not in served, f"the added master still serves slots: {served}"
