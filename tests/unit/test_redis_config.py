"""Redis Cluster config rendering and CLUSTER NODES parsing: pure functions, no server."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest

from waqiti_drill.config import Settings
from waqiti_drill.errors import InvalidConfig
from waqiti_drill.platform.local.context import LocalContext
from waqiti_drill.platform.local.redis_acl import password_hash
from waqiti_drill.platform.local.redis_cluster import (
    RedisCluster,
    covered_slots,
    parse_cluster_nodes,
    parse_info,
)
from waqiti_drill.platform.local.redis_conf import quote, render_conf
from waqiti_drill.platform.local.runas import RunAs
from waqiti_drill.platform.local.supervisor import Supervisor
from waqiti_drill.platform.local.tls import tls_files
from waqiti_drill.secrets import ENV_NAMES, Secrets

SECRETS = Secrets(**{name: f"s3cret-{name}" for name in ENV_NAMES})
TLS = tls_files(Path("/state"))


def directives(conf: str) -> dict[str, str]:
    """Every directive but `user` (several of them: see test_acl_users_*) once, by name."""
    out = {}
    for line in conf.splitlines():
        if line.strip() and not line.startswith("#") and not line.startswith("user "):
            key, _, value = line.partition(" ")
            assert key not in out, f"{key} given twice"
            out[key] = value
    return out


def test_render_conf_has_the_spec_settings_over_tls_only():
    conf = directives(render_conf("127.0.0.1", 25501, 25601, Path("/state/redis/25501"), SECRETS, TLS))
    assert conf == {
        "bind": "127.0.0.1",
        "protected-mode": "yes",
        "port": "0",  # no plaintext port at all
        "tls-port": "25501",
        "tls-cert-file": '"/state/tls/server.crt"',
        "tls-key-file": '"/state/tls/server.key"',
        "tls-client-cert-file": '"/state/tls/client.crt"',
        "tls-client-key-file": '"/state/tls/client.key"',
        "tls-ca-cert-file": '"/state/tls/ca.crt"',
        "tls-auth-clients": "no",
        "tls-cluster": "yes",
        "tls-replication": "yes",
        "tls-protocols": '"TLSv1.2 TLSv1.3"',
        "cluster-port": "25601",
        "daemonize": "no",
        "logfile": '""',
        "dir": '"/state/redis/25501"',
        "tcp-keepalive": "300",
        "timeout": "0",
        "cluster-enabled": "yes",
        "cluster-config-file": "nodes.conf",
        "cluster-node-timeout": "5000",
        "appendonly": "yes",
        "appendfsync": "everysec",
        "save": "3600 1 300 100 60 10000",
        "maxmemory": "1gb",
        "maxmemory-policy": "allkeys-lru",
        "masteruser": "waqiti_replication",
        "masterauth": '"s3cret-redis_replication_password"',  # the replica's own password: plain text
    }


def test_no_password_but_masterauth_is_in_the_file_in_plain_text():
    conf = render_conf("127.0.0.1", 25501, 25601, Path("/s"), SECRETS, TLS)
    for name in ("redis_password", "redis_admin_password", "redis_monitor_password"):
        secret = getattr(SECRETS, name)
        assert secret not in conf and f"#{password_hash(secret)}" in conf, name
    assert "requirepass" not in conf  # the default user is an ACL user with a digest, not requirepass


def test_quote_escapes_what_redis_would_misread():
    assert quote('a"b\\c d') == '"a\\"b\\\\c d"'
    assert quote("x\ny") == '"x\\x0ay"'
    assert quote("é") == '"\\xc3\\xa9"'
    assert quote("#not-a-comment") == '"#not-a-comment"'


def test_render_conf_keeps_a_hostile_masterauth_on_one_line():
    hostile = dataclasses.replace(SECRETS, redis_replication_password='p"w\nsave ""')
    conf = render_conf("127.0.0.1", 25501, 25601, Path("/s"), hostile, TLS)
    assert len(conf.splitlines()) == len(render_conf("127.0.0.1", 1, 2, Path("/s"), SECRETS, TLS).splitlines())
    assert 'masterauth "p\\"w\\x0asave \\"\\""' in conf.splitlines()


# A master (25502) was killed: it is marked FAIL and its replica (25505) was promoted and now serves
# its slots; slot 100 is being migrated from 25501 to 25503; 25504 is this node's view ("myself").
A, B, C, D, E, F = (c * 40 for c in "abcdef")  # node ids are 40 hex digits
CLUSTER_NODES = f"""\
{A} 127.0.0.1:25501@25601 master - 0 1718000000000 1 connected 0-5460 [100->-{C}]
{B} 127.0.0.1:25502@25602 master,fail - 1718000000100 1718000000000 2 disconnected
{C} 127.0.0.1:25503@25603,node3 master - 0 1718000001000 3 connected 10923-16383 [100-<-{A}]
{D} 127.0.0.1:25504@25604 myself,slave {A} 0 0 1 connected
{E} 127.0.0.1:25505@25605 master - 0 1718000001500 7 connected 5461-10921 10922
{F} 127.0.0.1:25506@25606 slave {C} 0 1718000001200 3 connected
{"0" * 40} 127.0.0.1:25507@25607 handshake - 0 0 0 connected
"""


def test_parse_cluster_nodes():
    nodes = {n.address: n for n in parse_cluster_nodes(CLUSTER_NODES)}
    assert sorted(nodes) == [f"127.0.0.1:{p}" for p in range(25501, 25507)]  # no handshake, no @bus
    first = nodes["127.0.0.1:25501"]
    assert (first.role, first.master_id, first.slots, first.connected) == ("master", None, [[0, 5460]], True)
    failed = nodes["127.0.0.1:25502"]
    assert (failed.role, failed.slots, failed.connected) == ("master", [], False)
    assert nodes["127.0.0.1:25503"].slots == [[10923, 16383]]
    replica = nodes["127.0.0.1:25504"]
    assert (replica.role, replica.master_id, replica.slots) == ("replica", first.node_id, [])
    assert replica.connected
    assert nodes["127.0.0.1:25505"].slots == [[5461, 10921], [10922, 10922]]


def test_covered_slots_skip_a_failed_master_but_not_a_suspected_one():
    assert covered_slots(CLUSTER_NODES) == 16384
    # Before the promotion: 25502 is FAIL but still owns its slots, 25505 is still its replica.
    before = CLUSTER_NODES.replace(
        "master,fail - 1718000000100 1718000000000 2 disconnected",
        "master,fail - 1718000000100 1718000000000 2 disconnected 5461-10922",
    ).replace(
        "master - 0 1718000001500 7 connected 5461-10921 10922",
        f"slave {B} 0 1718000001500 2 connected",
    )
    assert covered_slots(before) == 16384 - 5462
    pfail = CLUSTER_NODES.replace("master - 0 1718000000000 1 connected", "master,fail? - 0 0 1 disconnected")
    assert covered_slots(pfail) == 16384  # PFAIL is one node's suspicion: the slots still count
    assert not parse_cluster_nodes(pfail)[0].connected


def test_parse_info():
    info = parse_info("# Cluster\r\ncluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_known_nodes:6\r\n")
    assert info == {"cluster_state": "ok", "cluster_slots_assigned": "16384", "cluster_known_nodes": "6"}


@pytest.fixture
def cluster(tmp_path):
    user = RunAs("me", os.geteuid(), os.getegid(), str(tmp_path))
    secrets = Secrets(**{name: f"secret-{name}" for name in ENV_NAMES})
    ctx = LocalContext(Settings(state_dir=tmp_path), secrets, user, Supervisor(tmp_path, user))
    return RedisCluster(ctx)


def test_identity(cluster, tmp_path):
    assert cluster.addresses() == [f"127.0.0.1:{p}" for p in range(25501, 25507)]
    assert cluster.process_names() == [f"redis-{p}" for p in range(25501, 25507)]
    assert cluster.node_dir("127.0.0.1:25503") == tmp_path / "redis" / "25503"
    ports = cluster.ports()
    assert ports["redis[1]"] == 25501 and ports["redis_bus[6]"] == 25606 and len(ports) == 12
    with pytest.raises(InvalidConfig, match="unknown Redis node"):
        cluster.node_dir("127.0.0.1:6379")


def test_render_writes_private_configs(cluster, tmp_path):
    cluster.render()
    cluster.render()  # idempotent
    for address in cluster.addresses():
        conf = cluster.node_dir(address) / "redis.conf"
        assert stat.S_IMODE(conf.stat().st_mode) == 0o600
        text = conf.read_text()
        assert f"port {address.rsplit(':', 1)[1]}\n" in text
        assert "masterauth \"secret-redis_replication_password\"" in text
        assert "secret-redis_password" not in text  # the application's password only as its digest
    assert sorted(p.name for p in (tmp_path / "redis").iterdir()) == [str(p) for p in range(25501, 25507)]
