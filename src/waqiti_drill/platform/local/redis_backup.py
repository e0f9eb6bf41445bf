"""Redis backups as the spec's backup job takes them, and a cluster rebuilt from them.

The job (`redis-cli --rdb`, what a redis:7-alpine Job container runs) streams an RDB snapshot from
every master over the replication protocol, so it needs no access to the node's disk. Each snapshot is
encrypted by the harness before it leaves the machine it was taken on: AES-256-GCM with the
`redis_backup_key` from the secrets file, the label and node id bound in as associated data (a file
moved to another label or node does not decrypt). It is uploaded with SSE-S3 (AES256) on top, so the
store encrypts it at rest too. A manifest, written last, lists the shards with their slots, key count,
size and SHA-256; a backup whose manifest names a shard object that is missing or of another size is
listed as incomplete (a sync may copy the manifest before the shards) and never restored.

    s3://<bucket>/redis/<label>/<node-id>.rdb.enc   b"WQRDB1" + 12-byte nonce + AES-GCM ciphertext
    s3://<bucket>/redis/<label>/manifest.json

A rebuild from a backup starts fresh nodes: each master loads its shard's RDB (started once with
`--appendonly no`, since with AOF on and no AOF yet Redis 7 ignores the RDB; AOF is then switched on,
which writes the base AOF from memory), takes the slots the shard served, the six nodes meet, the
replicas follow their masters. The cluster then runs as any other: same config, AOF + RDB.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from typing import Any

import redis

from waqiti_drill.errors import CommandFailed, InvalidConfig
from waqiti_drill.platform.base import RedisBackupInfo, RedisRestoreInfo, RedisShardBackup
from waqiti_drill.platform.local.commands import run_tool
from waqiti_drill.platform.local.context import LocalContext, find_binary
from waqiti_drill.platform.local.objectstore import ObjectStore
from waqiti_drill.platform.local.redis_access import cli_args, cli_env
from waqiti_drill.platform.local.redis_cluster import CLI_PACKAGE, PACKAGE, RedisCluster, parse_info
from waqiti_drill.platform.local.runas import make_dir, write_file
from waqiti_drill.platform.local.supervisor import ProcessSpec
from waqiti_drill.platform.redis_slots import TOTAL_SLOTS, slot_count
from waqiti_drill.timefmt import now_utc_iso, utc_iso
from waqiti_drill.waiting import wait_until

PREFIX = "redis/"
MAGIC = b"WQRDB1"
ENCRYPTION = "AES-256-GCM (client side, redis_backup_key) + SSE-S3 AES256"


def encrypt(key_hex: str, plaintext: bytes, aad: str) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return MAGIC + nonce + AESGCM(bytes.fromhex(key_hex)).encrypt(nonce, plaintext, aad.encode())


def decrypt(key_hex: str, blob: bytes, aad: str) -> bytes:
    """InvalidConfig when the blob is not ours or does not authenticate (wrong key, label or node)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not blob.startswith(MAGIC):
        raise InvalidConfig(f"Redis backup {aad}: not an encrypted waqiti-drill RDB")
    nonce, body = blob[len(MAGIC):len(MAGIC) + 12], blob[len(MAGIC) + 12:]
    try:
        return AESGCM(bytes.fromhex(key_hex)).decrypt(nonce, body, aad.encode())
    except InvalidTag:
        raise InvalidConfig(f"Redis backup {aad}: does not decrypt with this key (or was moved)") from None


class RedisBackupJob:
    """Backups of `redis_ctx`'s cluster into `store_ctx`'s bucket (normally the same region)."""

    def __init__(self, redis_ctx: LocalContext, store_ctx: LocalContext, region: str) -> None:
        self.redis_ctx, self.store_ctx, self.region = redis_ctx, store_ctx, region
        self.work = redis_ctx.state_dir / "redis" / "backup"

    def _s3(self) -> Any:
        return ObjectStore(self.store_ctx).client()

    def take(self) -> RedisBackupInfo:
        cluster = RedisCluster(self.redis_ctx)
        masters = [n for n in cluster.status().nodes if n.role == "master" and n.slots and n.connected]
        if not masters:
            raise CommandFailed("Redis backup: no serving master to take a snapshot from")
        start = time.time()
        label = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(start)) + f"-{int(start * 1000) % 1000:03d}R"
        make_dir(self.redis_ctx.user, self.work, 0o700)
        s3, bucket, shards = self._s3(), self.store_ctx.settings.backup.bucket, []
        for node in masters:
            keys = int(cluster.command(node.address, "DBSIZE"))
            blob = encrypt(self.redis_ctx.secrets.redis_backup_key, self._snapshot(node.address),
                           f"{label}/{node.node_id}")
            key = f"{PREFIX}{label}/{node.node_id}.rdb.enc"
            s3.put_object(Bucket=bucket, Key=key, Body=blob, ServerSideEncryption="AES256")
            shards.append(RedisShardBackup(node.address, node.node_id, node.slots, keys, key, len(blob),
                                           hashlib.sha256(blob).hexdigest()))
        info = RedisBackupInfo(label, utc_iso(start), now_utc_iso(), self.region, ENCRYPTION, shards, True)
        manifest = json.dumps({"label": label, "start": info.start, "stop": info.stop, "encryption": ENCRYPTION,
                               "shards": [s.__dict__ for s in shards]}, indent=1)
        s3.put_object(Bucket=bucket, Key=f"{PREFIX}{label}/manifest.json", Body=manifest.encode(),
                      ServerSideEncryption="AES256")
        return info

    def _snapshot(self, address: str) -> bytes:
        """`redis-cli --rdb` of one master over TLS, as the run user and the admin ACL user (the stream is a
        SYNC, which the replication user is not given); the password in REDISCLI_AUTH only."""
        host, _, port = address.rpartition(":")
        path = self.work / f"{port}.rdb"
        path.unlink(missing_ok=True)
        cli = find_binary("redis-cli", CLI_PACKAGE)
        run_tool(self.redis_ctx.user, [cli, *cli_args(self.redis_ctx), "-h", host, "-p", port, "--rdb", str(path)],
                 f"redis-cli --rdb from {address}", env=cli_env(self.redis_ctx),
                 cwd=self.work, timeout=600)
        try:
            return path.read_bytes()
        finally:
            path.unlink(missing_ok=True)

    def list(self) -> list[RedisBackupInfo]:
        """Every backup in the store, oldest first, each checked against the objects present."""
        s3, bucket = self._s3(), self.store_ctx.settings.backup.bucket
        sizes: dict[str, int] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
            sizes.update({o["Key"]: int(o["Size"]) for o in page.get("Contents", [])})
        out = []
        for key in sorted(k for k in sizes if k.endswith("/manifest.json")):
            raw = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            shards = [RedisShardBackup(**s) for s in raw["shards"]]
            complete = all(sizes.get(s.object_key) == s.size_bytes for s in shards)
            out.append(RedisBackupInfo(raw["label"], raw["start"], raw["stop"], self.region, raw["encryption"],
                                       shards, complete))
        return out

    def fetch(self, backup: RedisBackupInfo, shard: RedisShardBackup) -> bytes:
        blob = self._s3().get_object(Bucket=self.store_ctx.settings.backup.bucket, Key=shard.object_key)["Body"].read()
        if hashlib.sha256(blob).hexdigest() != shard.sha256:
            raise CommandFailed(f"Redis backup {backup.label}: {shard.object_key} does not match its manifest's "
                                "SHA-256")
        return decrypt(self.redis_ctx.secrets.redis_backup_key, blob, f"{backup.label}/{shard.node_id}")

    def newest_complete(self) -> RedisBackupInfo | None:
        done = [b for b in self.list() if b.complete]
        return done[-1] if done else None


def restore_cluster(target: LocalContext, job: RedisBackupJob, backup: RedisBackupInfo,
                    timeout: float = 300.0) -> RedisRestoreInfo:
    """Fresh nodes of `target` rebuilt from `backup` (read through `job`); returns once healthy."""
    t0 = time.monotonic()
    cluster = RedisCluster(target)
    addresses = cluster.addresses()
    if len(backup.shards) * 2 != len(addresses):
        raise InvalidConfig(f"Redis backup {backup.label} has {len(backup.shards)} shards; the cluster needs "
                            f"{len(addresses) // 2} masters")
    for address in addresses:  # nothing of an earlier life of these nodes may survive
        if target.supervisor.pid_of(cluster.process_name(address)):
            cluster.kill_node(address)
        shutil.rmtree(cluster.node_dir(address), ignore_errors=True)
    cluster.render()
    server = find_binary("redis-server", PACKAGE)
    masters, replicas = addresses[: len(backup.shards)], addresses[len(backup.shards):]
    for address, shard in zip(masters, backup.shards, strict=True):
        write_file(target.user, cluster.node_dir(address) / "dump.rdb", job.fetch(backup, shard), 0o600)
        _launch(target, cluster, server, address, ["--appendonly", "no"])
    for address in replicas:
        _launch(target, cluster, server, address, [])
    restored = sum(_loaded_master(cluster, a, s, i + 1, timeout)
                   for i, (a, s) in enumerate(zip(masters, backup.shards, strict=True)))
    _join(cluster, masters, replicas, timeout)
    return RedisRestoreInfo(backup=backup, keys_restored=restored, seconds=round(time.monotonic() - t0, 3))


def _launch(ctx: LocalContext, cluster: RedisCluster, server: str, address: str, extra: list[str]) -> None:
    node_dir = cluster.node_dir(address)
    ctx.supervisor.start(ProcessSpec(name=cluster.process_name(address),
                                     argv=[server, str(node_dir / "redis.conf"), *extra], cwd=node_dir))


def _loaded_master(cluster: RedisCluster, address: str, shard: RedisShardBackup, epoch: int, timeout: float) -> int:
    """Wait until the RDB is loaded, switch AOF on (base AOF written from memory), take the shard's slots."""
    wait_until(lambda: (bool(cluster.command(address, "PING")), "loading"), timeout,
               f"Redis node {address} to load its RDB")
    keys = int(cluster.command(address, "DBSIZE"))
    cluster.command(address, "CONFIG", "SET", "appendonly", "yes")

    def aof_written() -> tuple[bool, str]:
        with cluster.client(address) as r:
            info = r.info("persistence")
        done = info.get("aof_enabled") == 1 and not info.get("aof_rewrite_in_progress") \
            and not info.get("aof_rewrite_scheduled")
        return done and info.get("aof_last_bgrewrite_status") == "ok", str(info.get("aof_last_bgrewrite_status"))

    wait_until(aof_written, timeout, f"Redis node {address} to write its AOF from the restored data")
    owned = {s for n in _myself(cluster, address) for lo, hi in n for s in range(lo, hi + 1)}
    wanted = {s for lo, hi in shard.slots for s in range(lo, hi + 1)}
    if owned - wanted:
        raise CommandFailed(f"Redis node {address}: the backup holds keys in slots its shard did not serve")
    for lo, hi in _ranges(sorted(wanted - owned)):
        cluster.command(address, "CLUSTER", "ADDSLOTSRANGE", str(lo), str(hi))
    cluster.command(address, "CLUSTER", "SET-CONFIG-EPOCH", str(epoch))
    return keys


def _myself(cluster: RedisCluster, address: str) -> list[list[list[int]]]:
    text = cluster.command(address, "CLUSTER", "NODES")
    return [[[int(x) for x in (t.split("-") * 2)[:2]] for t in line.split()[8:] if not t.startswith("[")]
            for line in text.splitlines() if "myself" in line.split()[2]]


def _ranges(slots: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s in slots:
        if out and out[-1][1] == s - 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


def _join(cluster: RedisCluster, masters: list[str], replicas: list[str], timeout: float) -> None:
    """MEET every node, each replica follows its master, then wait until the cluster is healthy."""
    first = masters[0]
    host = cluster.ctx.host
    for address in [*masters[1:], *replicas]:
        port = int(address.rpartition(":")[2])
        cluster.command(first, "CLUSTER", "MEET", host, str(port), str(cluster._bus[port]))

    def all_known() -> tuple[bool, str]:
        known = [int(parse_info(cluster.command(a, "CLUSTER", "INFO")).get("cluster_known_nodes", 0))
                 for a in masters + replicas]
        return all(k == len(known) for k in known), f"known nodes per node: {known}"

    wait_until(all_known, timeout, "the restored Redis nodes to know each other")
    for master, replica in zip(masters, replicas, strict=True):
        master_id = cluster.command(master, "CLUSTER", "MYID")
        wait_until(lambda r=replica, m=master_id: (_replicate(cluster, r, m), "not yet"), timeout,
                   f"Redis node {replica} to follow {master}")
    wait_until(cluster._health, timeout, "the restored Redis Cluster to be ok with 3 masters and 3 replicas")
    served = sum(slot_count(n) for n in cluster.status().nodes if n.role == "master")
    if served != TOTAL_SLOTS:
        raise CommandFailed(f"the restored Redis Cluster serves {served} of {TOTAL_SLOTS} slots")


def _replicate(cluster: RedisCluster, replica: str, master_id: str) -> bool:
    try:
        cluster.command(replica, "CLUSTER", "REPLICATE", master_id)
    except redis.ResponseError:
        return False  # the replica has not learnt of the master yet
    return True
