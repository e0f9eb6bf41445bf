"""Redis Cluster as the spec describes it: 3 masters + 3 replicas, auth, AOF + RDB, 1gb allkeys-lru."""

from __future__ import annotations

import pytest
import redis

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_six_nodes_three_masters_three_replicas_all_slots(stack):
    status = stack.platform().redis_status()
    assert status.cluster_state == "ok"
    assert status.slots_covered == 16384
    masters = [n for n in status.nodes if n.role == "master"]
    replicas = [n for n in status.nodes if n.role == "replica"]
    assert len(masters) == 3 and len(replicas) == 3
    assert sorted(r.master_id for r in replicas) == sorted(m.node_id for m in masters)
    covered = sorted(slot for m in masters for a, b in m.slots for slot in range(a, b + 1))
    assert covered == list(range(16384))


def test_client_without_password_is_refused(stack):
    port = stack.settings.ports.redis[0]
    anon = redis.Redis(host="127.0.0.1", port=port, socket_timeout=3)
    with anon, pytest.raises(redis.exceptions.AuthenticationError):
        anon.get("x")
    wrong = redis.Redis(host="127.0.0.1", port=port, password="wrong", socket_timeout=3)
    with wrong, pytest.raises(redis.exceptions.AuthenticationError):
        wrong.ping()


def test_persistence_and_memory_policy_on_every_node(stack):
    platform = stack.platform()
    for port in stack.settings.ports.redis:
        with redis.Redis(host="127.0.0.1", port=port, password=platform.redis_password(), socket_timeout=3) as r:
            cfg = r.config_get("*")
            assert cfg["appendonly"] == "yes", port
            assert cfg["save"].strip() != "", port
            assert cfg["maxmemory"] == str(1024**3), port
            assert cfg["maxmemory-policy"] == "allkeys-lru", port
            assert cfg["cluster-enabled"] == "yes", port
            assert cfg["masterauth"] != "", port


def test_cluster_client_writes_and_reads_across_shards(stack):
    platform = stack.platform()
    nodes = [redis.cluster.ClusterNode("127.0.0.1", p) for p in stack.settings.ports.redis]
    rc = redis.cluster.RedisCluster(startup_nodes=nodes, password=platform.redis_password(), socket_timeout=3)
    try:
        for i in range(300):
            rc.set(f"it:key:{i}", i, ex=600)
        assert [int(rc.get(f"it:key:{i}")) for i in range(300)] == list(range(300))
        owners = {rc.get_node_from_key(f"it:key:{i}").port for i in range(300)}
        assert len(owners) == 3
    finally:
        rc.close()
