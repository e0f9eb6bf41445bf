"""The backup region, Redis backups and the loss of the primary region, against the real stack.

- a Redis backup is one RDB per master, encrypted before upload (AES-256-GCM) and by the store (SSE),
  listed, and replicated to the backup region by the scheduled `aws s3 sync`, whose lag is measured;
- all six Redis nodes killed at once come back from their own AOF + RDB, the cluster re-forming by itself,
  with the acknowledged writes lost counted exactly;
- the primary region lost under writes: the cluster is rebuilt in the backup region from its copy of the
  backups alone, the global endpoint is re-pointed and the same client objects carry on; the failback
  returns the normal shape and loses nothing written in the backup region.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from waqiti_drill.errors import InvalidConfig
from waqiti_drill.faults import health
from waqiti_drill.platform.local import atrest
from waqiti_drill.platform.local.mounts import disks_enabled
from waqiti_drill.platform.local.objectstore import ObjectStore
from waqiti_drill.platform.local.redis_backup import MAGIC, RedisBackupJob, decrypt
from waqiti_drill.platform.local.region import backup_context
from waqiti_drill.workload import redis_ops

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Writers:
    """Two clients made once and never re-created: transfers of a sort into PostgreSQL through the global
    endpoint, SETs into Redis seeded with the global name. Each acknowledged write is kept with its time."""

    def __init__(self, platform, tag: str) -> None:
        self.kwargs = platform.postgres_connect_kwargs()
        self.redis = redis_ops.connect_cluster(platform.redis_seed_nodes(), platform.redis_password(),
                                               platform.redis_client_settings())
        self.tag, self.stop_flag = tag, threading.Event()
        self.pg_acked: dict[int, float] = {}
        self.redis_acked: dict[str, float] = {}
        with psycopg.connect(**self.kwargs, autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS region_writes (tag text, n bigint, PRIMARY KEY (tag, n))")
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self._pg, self._redis)]

    def __enter__(self) -> Writers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_flag.set()
        for t in self.threads:
            t.join(30)

    def _pg(self) -> None:
        conn, n = None, 0
        while not self.stop_flag.is_set():
            n += 1
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(**self.kwargs, autocommit=True, connect_timeout=2)
                conn.execute("INSERT INTO region_writes VALUES (%s, %s)", (self.tag, n))
                self.pg_acked[n] = time.time()
            except psycopg.Error:
                conn = None
                time.sleep(0.1)
            time.sleep(0.01)

    def _redis(self) -> None:
        n = 0
        while not self.stop_flag.is_set():
            n += 1
            key = f"wd:{self.tag}:{n}"
            try:
                self.redis.set(key, n)
                self.redis_acked[key] = time.time()
            except Exception:  # noqa: BLE001 - an outage: the client carries on, as an application would
                time.sleep(0.1)
            time.sleep(0.01)

    def first_ack_after(self, instant: float) -> tuple[float | None, float | None]:
        pg = min((t for t in self.pg_acked.copy().values() if t > instant), default=None)
        rd = min((t for t in self.redis_acked.copy().values() if t > instant), default=None)
        return pg, rd

    def present(self, platform) -> tuple[set[int], set[str]]:
        with psycopg.connect(**platform.postgres_connect_kwargs(), autocommit=True) as conn:
            rows = {r[0] for r in conn.execute("SELECT n FROM region_writes WHERE tag = %s", (self.tag,))}
        keys = {k for k in self.redis_acked.copy() if self.redis.exists(k)}
        return rows, keys


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_redis_backup_is_encrypted_listed_and_replicated(stack):
    platform = stack.platform()
    client = redis_ops.connect_cluster(platform.redis_seed_nodes(), platform.redis_password(),
                                       platform.redis_client_settings())
    for i in range(300):
        client.set(f"wd:backup-test:{i}", i)
    taken = platform.backup_redis()
    assert taken.complete and len(taken.shards) == 3 and sum(s.keys for s in taken.shards) >= 300
    ctx = platform.context()
    s3, bucket = ObjectStore(ctx).client(), stack.settings.backup.bucket
    shard = taken.shards[0]
    head = s3.head_object(Bucket=bucket, Key=shard.object_key)
    assert head["ServerSideEncryption"] == "AES256"
    blob = s3.get_object(Bucket=bucket, Key=shard.object_key)["Body"].read()
    assert blob.startswith(MAGIC) and b"REDIS" not in blob[:64], "the stored object is ciphertext"
    with pytest.raises(InvalidConfig, match="does not decrypt"):
        decrypt("00" * 32, blob, f"{taken.label}/{shard.node_id}")
    plain = RedisBackupJob(ctx, ctx, "primary").fetch(taken, shard)
    assert plain.startswith(b"REDIS"), "decrypts to an RDB file"

    platform.archive_wal()
    t0 = time.monotonic()
    lag = platform.replicate_now()
    print(f"sync run: {time.monotonic() - t0:.1f}s; {lag}")
    assert lag.last_sync_ok and lag.segments_behind == 0 and lag.lag_seconds == 0.0
    assert lag.primary_newest_wal == lag.backup_newest_wal is not None
    there = {b.label: b for b in platform.list_redis_backups_in_backup_region()}
    assert there[taken.label].complete, "the backup reached the backup region whole"
    backup = backup_context(ctx)
    assert ObjectStore(backup).client().head_object(Bucket=bucket, Key=shard.object_key)["ServerSideEncryption"] == \
        "AES256"
    assert ObjectStore(backup).bucket_encryption() == "AES256"
    listed = stack.drill("backups", "--redis")
    assert listed.returncode == 0 and taken.label in listed.stdout and "us-east-1" in listed.stdout, listed


def test_whole_redis_cluster_crash_restarts_from_aof_and_rdb(stack):
    platform = stack.platform()
    ids_before = {n.address: n.node_id for n in platform.redis_nodes()}
    with Writers(platform, f"crash-{time.time_ns()}") as w:
        wait_for(lambda: len(w.redis_acked) > 200, 60, "200 acknowledged Redis writes")
        killed_at = time.time()
        platform.kill_redis_cluster()
        time.sleep(2)
        platform.start_redis_cluster()
        restarted = time.time()
        wait_for(lambda: w.first_ack_after(restarted)[1] is not None, 60, "a Redis write after the restart")
    _rows, keys = w.present(platform)
    acked_before = {k for k, t in w.redis_acked.items() if t < killed_at}  # the writers have stopped
    lost = acked_before - keys
    last_second = {k for k in acked_before if w.redis_acked[k] > killed_at - 1.5}
    print(f"redis cluster crash: {len(acked_before)} acknowledged before the kill, {len(lost)} lost "
          f"(appendfsync everysec; the kernel keeps what a killed process wrote), restart {restarted - killed_at:.1f}s")
    assert lost <= last_second, "only writes of about the last second may be lost"
    assert {n.address: n.node_id for n in platform.redis_nodes()} == ids_before, "the same cluster re-formed"
    assert health.problems(platform) == []


def test_region_loss_fails_over_to_the_backup_region_and_back(stack):
    platform = stack.platform()
    platform.backup("full")
    with Writers(platform, f"region-{time.time_ns()}") as w:
        wait_for(lambda: len(w.pg_acked) > 100 and len(w.redis_acked) > 100, 60, "writes to both services")
        redis_backup = platform.backup_redis()
        archived_at = time.time()
        platform.archive_wal()  # every write acknowledged before it is in an archived WAL segment
        synced = platform.replicate_now()
        wait_for(lambda: len(w.pg_acked) > 300, 60, "more writes after the sync")
        try:
            lost_at = time.time()
            destroyed = platform.lose_primary_region()
            gone_at = time.time()  # nothing of the primary region can acknowledge anything after this
            assert any("s3/data" in line for line in destroyed), destroyed
            assert platform.region_status().lost == stack.settings.region.primary
            move = platform.fail_over_region()
            print("failover:", *move.steps, sep="\n  ")
            wait_for(lambda: None not in w.first_ack_after(time.time() - 0.5), 120, "both clients writing again")
            pg_back, redis_back = w.first_ack_after(gone_at)
            pg_last = max(t for t in w.pg_acked.copy().values() if t < gone_at)
            redis_last = max(t for t in w.redis_acked.copy().values() if t < gone_at)
            print(f"region loss: RTO (loss began to first acknowledged write) PostgreSQL {pg_back - lost_at:.1f}s, "
                  f"Redis {redis_back - lost_at:.1f}s; write gap {pg_back - pg_last:.1f}s / "
                  f"{redis_back - redis_last:.1f}s (same client objects); failover took {move.seconds:.1f}s; "
                  f"sync lag before the loss {synced.lag_seconds}s")
            assert pg_back - lost_at > move.seconds * 0.5, "clients were down while the backup region was built"
            assert platform.region_status().active == stack.settings.region.backup
            _check_at_rest(stack, platform)
            rows, keys = w.present(platform)
            pg_acked, redis_acked = w.pg_acked.copy(), w.redis_acked.copy()  # the writers go on meanwhile
            pg_lost = {n for n, t in pg_acked.items() if t < lost_at} - rows
            assert not {n for n in pg_lost if pg_acked[n] < archived_at}, "what was archived and replicated survives"
            redis_lost = {k for k, t in redis_acked.items() if t < lost_at} - keys
            assert not {k for k in redis_lost if redis_acked[k] < _epoch(redis_backup.start) - 1}
            print(f"lost in the region loss: {len(pg_lost)} PostgreSQL rows, {len(redis_lost)} Redis keys")
            failed_over_at = time.time()
            wait_for(lambda: sum(t > failed_over_at for t in w.pg_acked.copy().values()) > 50, 60, "writes there")
        finally:
            back = platform.fail_back_region()
        print("failback:", *(back.steps if back else ["nothing to do"]), sep="\n  ")
        back_at = time.time()
        wait_for(lambda: None not in w.first_ack_after(back_at), 120, "both clients writing after the failback")
    rows, keys = w.present(platform)
    in_backup = {n for n, t in w.pg_acked.items() if failed_over_at < t < back_at - back.seconds}  # writers stopped
    assert in_backup and in_backup <= rows, "the failback loses nothing acknowledged in the backup region"
    assert platform.region_status().active == stack.settings.region.primary and platform.region_status().lost is None
    assert health.problems(platform) == []
    if disks_enabled():  # back on new encrypted images, and the backup region's images and keys deleted
        assert all(v.encrypted for v in atrest.view(stack.settings)), atrest.view(stack.settings)
        backup = backup_context(platform.context()).settings
        assert not _files(backup.state_dir / "disks", "*.img") and not _files(backup.state_dir / "keys", "*")


def _check_at_rest(stack, platform) -> None:  # noqa: ANN001
    """Failed over: the backup region's members and Redis nodes encrypted at rest; the lost region's images
    and keys gone (what their blocks held is unreadable for good)."""
    if not disks_enabled():
        return
    backup = backup_context(platform.context()).settings
    views = atrest.view(backup)
    assert [v.name for v in views] == ["pg1", "pg2", "pg3", "redis"] and all(v.encrypted for v in views), views
    assert len(views[3].directories) >= 7, "Redis's directory and its six nodes'"
    state = stack.settings.state_dir
    assert not _files(state / "disks", "*.img") and not _files(state / "keys", "*")


def _files(directory, pattern: str) -> list:  # noqa: ANN001
    return [p for p in directory.glob(pattern) if p.is_file()] if directory.is_dir() else []


def _epoch(iso: str) -> float:
    from waqiti_drill.timefmt import parse_utc

    return parse_utc(iso)
