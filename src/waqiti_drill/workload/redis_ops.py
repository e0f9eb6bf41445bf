"""The Redis side of the payments workload: session writes and client-tracked counters.

Keys carry the run id (`wd:<run>:s:<proc>:<seq>` for sessions, `wd:<run>:c:<n>` for counters) so a
final read finds exactly this run's data. Counters follow the consistency-test approach: every
acknowledged INCR returns the counter's new value, so after recovery any acknowledged value above
the counter's final value is an acknowledged write the cluster lost.

The client is cluster-aware (redis-py RedisCluster: MOVED/ASK, topology refresh after a failure) but
never retries a command by itself: a retried INCR after a lost reply would count twice, and a retry
hides the outage the drill is measuring. The harness records each attempt instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster, key_slot
from redis.retry import Retry

from waqiti_drill.platform.base import RedisClientSettings
from waqiti_drill.platform.redis_client import redis_py_kwargs

CHUNK = 10_000


def session_key(run_id: str, name: str) -> str:
    return f"wd:{run_id}:{name}"


def connect_cluster(nodes: list[str], password: str, settings: RedisClientSettings,
                    timeout: float = 2.0) -> RedisCluster:
    """A cluster client from host:port startup nodes, with timeouts and no silent retries; TLS and the
    ACL user as the platform says (`settings`), the server certificate verified.

    The startup nodes stay what the client was configured with (dynamic_startup_nodes off): after an
    error the client re-reads the topology through them, so a seed that names the global endpoint
    finds the cluster again wherever the failover automation moved it, as an application seeded with
    a DNS name does. Discovered node addresses never replace the seed."""
    startup = [ClusterNode(host, int(port)) for host, _, port in (n.rpartition(":") for n in nodes)]
    return RedisCluster(
        startup_nodes=startup,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        require_full_coverage=False,  # one shard down must not stop writes to the others
        dynamic_startup_nodes=False,
        decode_responses=True,
        **redis_py_kwargs(settings, password),  # type: ignore[arg-type]
    )


class NotSent(Exception):
    """No cluster client could be made (no startup node answered): nothing was sent."""


def connect_cluster_or_fail(nodes: list[str], password: str, settings: RedisClientSettings,
                            timeout: float = 2.0) -> RedisCluster:
    try:
        return connect_cluster(nodes, password, settings, timeout)
    except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:
        raise NotSent(str(exc)) from exc


def slot_owners(client: RedisCluster) -> dict[int, str]:
    """slot -> 'host:port' of the master serving it now; the run's shard map is taken once, at start."""
    client.nodes_manager.initialize()  # a fresh CLUSTER SLOTS, not what the client cached
    return {slot: nodes[0].name for slot, nodes in client.nodes_manager.slots_cache.items() if nodes}


def shard_of(owners: dict[int, str], key: str) -> str:
    return owners.get(key_slot(key.encode()), "unassigned")


def outcome_of(exc: BaseException) -> str:
    """'fail' when Redis answered with an error (nothing applied), else 'info' (the reply was lost)."""
    if isinstance(exc, NotSent | redis.ResponseError | redis.exceptions.ClusterDownError):
        return "fail"
    return "info"


def masters(client: RedisCluster) -> list[redis.Redis]:
    return [client.get_redis_connection(node) for node in client.get_primaries()]


def present_sessions(client: RedisCluster, run_id: str) -> Iterator[tuple[str, list[str]]]:
    """(master address, session names found there) in chunks, scanning every master."""
    prefix = session_key(run_id, "")
    for node in client.get_primaries():
        conn = client.get_redis_connection(node)
        batch: list[str] = []
        for key in conn.scan_iter(match=f"{prefix}s:*", count=1000):
            batch.append(key[len(prefix):])
            if len(batch) >= CHUNK:
                yield node.name, batch
                batch = []
        if batch:
            yield node.name, batch


def counter_values(client: RedisCluster, run_id: str, counters: int) -> dict[str, int]:
    """'c:<n>' -> final value (0 for a counter that is missing)."""
    out = {}
    for n in range(counters):
        value = client.get(session_key(run_id, f"c:{n}"))
        out[f"c:{n}"] = int(value) if value is not None else 0
    return out
