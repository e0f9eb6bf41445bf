"""The final read: after the fault is healed, read back everything this run wrote, into the history.

It runs in the harness (no gevent), through the same endpoints clients use, and waits (with a
deadline) for them to answer first: a read that fails half-way would make writes look lost.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import redis

from waqiti_drill.history import HistoryWriter
from waqiti_drill.waiting import wait_until
from waqiti_drill.workload import ledger, redis_ops
from waqiti_drill.workload.targets import WorkloadTargets

FINAL_FILE = "final.jsonl"


def read_back(
    targets: WorkloadTargets,
    pg_password: str,
    redis_password: str,
    services: tuple[str, ...] = ("postgres", "redis"),
    timeout: float = 120.0,
) -> Path:
    """Write the final records of `services` to <history>/final.jsonl and return its path."""
    path = Path(targets.history_dir) / FINAL_FILE
    with HistoryWriter(path) as out:
        if "postgres" in services:
            conn = _pg(targets, pg_password, timeout)
            with conn:
                for chunk in ledger.transferred_ids(conn, targets.run_id):
                    out.write({"kind": "final", "service": "postgres", "shard": "postgres", "f": "transfer",
                               "present": chunk})
                accounts, total = ledger.total_balance(conn)
                out.write({"kind": "final", "service": "postgres", "shard": "postgres", "f": "balance_total",
                           "value": total, "expected": accounts * ledger.INITIAL_BALANCE})
        if "redis" in services:
            client = _redis(targets, redis_password, timeout)
            try:
                for shard, names in redis_ops.present_sessions(client, targets.run_id):
                    out.write({"kind": "final", "service": "redis", "shard": shard, "f": "session", "present": names})
                owners = redis_ops.slot_owners(client)
                for key, value in redis_ops.counter_values(client, targets.run_id, targets.counters).items():
                    shard = redis_ops.shard_of(owners, redis_ops.session_key(targets.run_id, key))
                    out.write({"kind": "final", "service": "redis", "shard": shard, "f": "incr", "key": key,
                               "value": value})
            finally:
                client.close()
        out.write({"kind": "final_done", "wall": time.time(), "mono": time.monotonic(), "services": list(services)})
    return path


def _pg(targets: WorkloadTargets, password: str, timeout: float) -> psycopg.Connection:
    conn: list[psycopg.Connection] = []

    def ready() -> tuple[bool, str]:
        try:
            conn.append(psycopg.connect(targets.rw_dsn, password=password, autocommit=True, connect_timeout=3))
            return True, "connected"
        except psycopg.Error as exc:
            return False, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

    wait_until(ready, timeout, "the read-write endpoint to accept the final read")
    return conn[0]


def _redis(targets: WorkloadTargets, password: str, timeout: float) -> redis.RedisCluster:
    def ready() -> tuple[bool, str]:
        try:
            client = redis_ops.connect_cluster(targets.redis_nodes, password, targets.redis_settings())
        except redis.RedisError as exc:
            return False, str(exc)
        try:
            state = client.cluster_info(target_nodes=redis.RedisCluster.RANDOM).get("cluster_state")
            if state == "ok":
                found.append(client)
                return True, "cluster_state ok"
            client.close()
            return False, f"cluster_state {state}"
        except redis.RedisError as exc:
            client.close()
            return False, str(exc)

    found: list[redis.RedisCluster] = []
    wait_until(ready, timeout, "the Redis Cluster to be ok for the final read")
    return found[0]
