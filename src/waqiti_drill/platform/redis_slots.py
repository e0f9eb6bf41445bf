"""Pure slot arithmetic on a RedisStatus: how many slots a master serves, and which move is asked.

Shared by every platform's `move_slots` and by the chaostoolkit action that picks its defaults, so
the same arguments are refused the same way everywhere, before anything is touched.
"""

from __future__ import annotations

from dataclasses import dataclass

from waqiti_drill.errors import InvalidConfig
from waqiti_drill.platform.base import RedisNode, RedisStatus

TOTAL_SLOTS = 16384


def slot_count(node: RedisNode) -> int:
    return sum(end - start + 1 for start, end in node.slots)


def slot_counts(status: RedisStatus) -> dict[str, int]:
    """address -> slots served, for every master the cluster considers connected."""
    return {n.address: slot_count(n) for n in status.nodes if n.role == "master" and n.connected}


@dataclass(frozen=True)
class SlotMove:
    source: RedisNode
    target: RedisNode
    count: int


def plan_move(status: RedisStatus, source: str | None, target: str | None, count: object) -> SlotMove:
    """Validate a move of `count` slots from master `source` to master `target` (None: the master
    serving the most slots, and the one serving the fewest). One-line InvalidConfig on anything wrong."""
    if isinstance(count, bool) or not isinstance(count, int):
        raise InvalidConfig(f"slot count must be a whole number, got {count!r}")
    if status.cluster_state != "ok" or status.slots_covered != TOTAL_SLOTS:
        raise InvalidConfig(f"the Redis Cluster is not ok ({status.cluster_state}, "
                            f"{status.slots_covered}/{TOTAL_SLOTS} slots): heal it before moving slots")
    masters = sorted((n for n in status.nodes if n.role == "master" and n.connected),
                     key=lambda n: (-slot_count(n), n.address))
    if len(masters) < 2:
        raise InvalidConfig(f"moving slots needs two connected masters, the cluster has {len(masters)}")
    src = _master(status, source, "source") if source else masters[0]
    dst = _master(status, target, "target") if target else next(
        n for n in reversed(masters) if n.address != src.address)
    if src.address == dst.address:
        raise InvalidConfig(f"source and target are the same master {src.address}")
    have = slot_count(src)
    if not 1 <= count <= have:
        raise InvalidConfig(f"slot count must be between 1 and {have} (the slots {src.address} serves), got {count}")
    return SlotMove(src, dst, count)


def _master(status: RedisStatus, address: str, what: str) -> RedisNode:
    nodes = {n.address: n for n in status.nodes}
    masters = sorted(a for a, n in nodes.items() if n.role == "master" and n.connected)
    if address not in nodes:
        raise InvalidConfig(f"unknown Redis node '{address}' as {what}; masters: {', '.join(masters)}")
    node = nodes[address]
    if node.role != "master":
        raise InvalidConfig(f"{what} {address} is not a master (a replica); masters: {', '.join(masters)}")
    if not node.connected:
        raise InvalidConfig(f"{what} master {address} is not connected to the cluster")
    return node


def open_slots(cluster_nodes_text: str) -> list[str]:
    """The `[slot->-id]` / `[slot-<-id]` markers of slots left migrating or importing (a reshard cut short)."""
    return [tok for line in cluster_nodes_text.splitlines() for tok in line.split()[8:] if tok.startswith("[")]
