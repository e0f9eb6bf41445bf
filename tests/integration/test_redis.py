"""Redis Cluster as the spec describes it: 3 masters + 3 replicas, AOF + RDB, 1gb allkeys-lru; TLS only
(TLS 1.2+, the cluster bus and replication too) and ACL users, the application's limited."""

from __future__ import annotations

import json
import ssl
import stat
from collections import Counter

import pytest
import redis

from tests.integration.stackutil import AckedWrites
from waqiti_drill.platform.local.redis_access import node_client
from waqiti_drill.platform.local.redis_acl import ADMIN_USER, MONITOR_USER, REPLICATION_USER
from waqiti_drill.platform.redis_client import redis_py_kwargs
from waqiti_drill.security.tlsprobe import plaintext_refused, tls_handshake
from waqiti_drill.workload import redis_ops
from waqiti_drill.workload.runner import LoadSpec
from waqiti_drill.workload.session import LoadSession

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _app_client(platform, port: int) -> redis.Redis:
    """One node, as the application connects: its settings and password from the Topology interface."""
    kwargs = redis_py_kwargs(platform.redis_client_settings(), platform.redis_password())
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=3, decode_responses=True, **kwargs)


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


def test_every_node_refuses_plaintext_and_tls11_and_accepts_tls12(stack):
    ca = stack.platform().redis_client_settings().ca_file
    for port in stack.settings.ports.redis:
        refused, said = plaintext_refused("127.0.0.1", port, "redis")
        assert refused, f"{port}: {said}"
        old = tls_handshake("127.0.0.1", port, ca, max_version=ssl.TLSVersion.TLSv1_1)
        assert not old.ok and "VERSION" in (old.error or "").upper(), f"{port}: TLS 1.1 {old}"
        tls12 = tls_handshake("127.0.0.1", port, ca, max_version=ssl.TLSVersion.TLSv1_2)
        assert tls12.version == "TLSv1.2", f"{port}: {tls12}"
        assert tls_handshake("127.0.0.1", port, ca).version == "TLSv1.3", port


def test_the_cluster_bus_is_tls_and_demands_a_certificate_of_the_stacks_ca(stack):
    """The bus has no password: a peer without the CA's client certificate must not get in."""
    tls = stack.platform().context().tls
    for bus in stack.settings.ports.redis_bus:
        refused, said = plaintext_refused("127.0.0.1", bus, "redis")
        assert refused, f"bus {bus}: {said}"
        without = tls_handshake("127.0.0.1", bus, tls.ca_cert)
        assert not without.ok and "CERTIFICATE_REQUIRED" in (without.error or "").upper(), f"bus {bus}: {without}"
        with_cert = tls_handshake("127.0.0.1", bus, tls.ca_cert, client_cert=(tls.client_cert, tls.client_key))
        assert with_cert.ok, f"bus {bus}: {with_cert}"


def test_client_without_password_or_with_a_wrong_one_is_refused(stack):
    platform = stack.platform()
    settings = platform.redis_client_settings()
    port = stack.settings.ports.redis[0]
    anon = redis.Redis(host="127.0.0.1", port=port, socket_timeout=3, **redis_py_kwargs(settings, ""))
    with anon, pytest.raises(redis.exceptions.AuthenticationError):
        anon.get("x")
    for user in ("default", ADMIN_USER, REPLICATION_USER, MONITOR_USER):
        wrong = redis.Redis(host="127.0.0.1", port=port, socket_timeout=3,
                            **{**redis_py_kwargs(settings, "wrong"), "username": user})
        with wrong, pytest.raises(redis.exceptions.AuthenticationError):
            wrong.ping()


def test_a_client_that_cannot_verify_the_server_is_refused_by_itself(stack, tmp_path):
    """Verification is on: a CA that did not sign the nodes' certificate fails the handshake."""
    from waqiti_drill.platform.local.tls import ensure_tls

    other = ensure_tls(tmp_path, stack.platform().context().user, ["127.0.0.1"], [])
    settings = stack.platform().redis_client_settings()
    kwargs = {**redis_py_kwargs(settings, stack.platform().redis_password()), "ssl_ca_certs": str(other.ca_cert)}
    with redis.Redis(host="127.0.0.1", port=stack.settings.ports.redis[0], socket_timeout=3, **kwargs) as r, \
            pytest.raises(redis.exceptions.ConnectionError, match="certificate verify failed"):
        r.ping()


def test_persistence_memory_and_tls_settings_on_every_node(stack):
    platform = stack.platform()
    for port in stack.settings.ports.redis:
        with node_client(platform.context(), port) as r:
            cfg = r.config_get("*")
        assert cfg["appendonly"] == "yes", port
        assert cfg["save"].strip() != "", port
        assert cfg["maxmemory"] == str(1024**3), port
        assert cfg["maxmemory-policy"] == "allkeys-lru", port
        assert cfg["cluster-enabled"] == "yes", port
        assert (cfg["port"], cfg["tls-port"]) == ("0", str(port)), port
        assert (cfg["tls-cluster"], cfg["tls-replication"], cfg["tls-protocols"]) == ("yes", "yes", "TLSv1.2 TLSv1.3")
        assert cfg["masteruser"] == REPLICATION_USER and cfg["masterauth"] != "" and cfg["requirepass"] == "", port


def test_redis_conf_is_private_and_holds_no_password_but_masterauth(stack):
    ctx = stack.platform().context()
    secrets = ctx.secrets
    for port in stack.settings.ports.redis:
        conf = ctx.state_dir / "redis" / str(port) / "redis.conf"
        assert stat.S_IMODE(conf.stat().st_mode) == 0o600
        text = conf.read_text()
        for secret in (secrets.redis_password, secrets.redis_admin_password, secrets.redis_monitor_password):
            assert secret not in text, port
        assert secrets.redis_replication_password in text  # masterauth: what the replica sends, plain text


def test_replicas_follow_their_masters_as_the_replication_user_over_tls(stack):
    platform = stack.platform()
    replicas = [n for n in platform.redis_nodes() if n.role == "replica"]
    assert len(replicas) == 3
    for node in replicas:
        with node_client(platform.context(), int(node.address.rsplit(":", 1)[1])) as r:
            assert r.info("replication")["master_link_status"] == "up", node.address
    master = next(n for n in platform.redis_nodes() if n.role == "master")
    with node_client(platform.context(), int(master.address.rsplit(":", 1)[1])) as r:
        names = {c["user"] for c in r.client_list() if "S" in c.get("flags", "")}  # replicas' links
    assert names == {REPLICATION_USER}, names


def test_cluster_client_writes_and_reads_across_shards(stack):
    platform = stack.platform()
    rc = redis_ops.connect_cluster([f"127.0.0.1:{stack.settings.ports.redis[0]}"], platform.redis_password(),
                                   platform.redis_client_settings(), timeout=3)
    try:
        for i in range(300):
            rc.set(f"it:key:{i}", i, ex=600)
        assert [int(rc.get(f"it:key:{i}")) for i in range(300)] == list(range(300))
        owners = {rc.get_node_from_key(f"it:key:{i}").port for i in range(300)}
        assert len(owners) == 3
    finally:
        rc.close()


FORBIDDEN = (["FLUSHALL"], ["FLUSHDB"], ["CONFIG", "SET", "maxmemory", "1"], ["DEBUG", "SLEEP", "0"], ["KEYS", "*"],
             ["ACL", "SETUSER", "intruder", "on", ">x", "+@all"], ["ACL", "DELUSER", "waqiti_admin"], ["SHUTDOWN"],
             ["CLUSTER", "RESET"], ["REPLICAOF", "NO", "ONE"])


def test_the_application_user_is_refused_what_could_harm_while_the_workload_runs_clean(stack, tmp_path):
    platform = stack.platform()
    masters = [int(n.address.rsplit(":", 1)[1]) for n in platform.redis_nodes() if n.role == "master"]
    spec = LoadSpec(profile="steady", users=4, services=("redis",))
    with node_client(platform.context(), masters[0]) as admin:  # asked first, so an allowed FLUSHALL never runs
        for command in FORBIDDEN:
            assert "no permissions" in admin.execute_command("ACL", "DRYRUN", "default", *command), command
        assert admin.execute_command("ACL", "DRYRUN", "default", "SET", "k", "v") == "OK"
    refusals: Counter[str] = Counter()
    with LoadSession(platform, tmp_path, spec) as session:
        AckedWrites(session.history_dir).wait_more(200)
        for port in masters:
            with _app_client(platform, port) as app:
                for command in FORBIDDEN:
                    with pytest.raises(redis.ResponseError) as refused:
                        app.execute_command(*command)
                    refusals[type(refused.value).__name__] += 1
                    assert "permission" in str(refused.value).lower() or command[0] == "DEBUG", (command, refused.value)
        AckedWrites(session.history_dir).wait_more(200)
    session.read_back()
    # DEBUG is refused before the ACL is asked (enable-debug-command no); the ACL refuses it too (above)
    assert refusals["NoPermissionError"] == len(masters) * (len(FORBIDDEN) - 1), refusals
    _assert_clean(session.history_dir)


def _assert_clean(history) -> None:  # noqa: ANN001
    """No operation failed and every acknowledged session write is in the final read. An operation the load's
    stop interrupted (a user's greenlet killed mid-call: `info`, marked interrupted) is no failure."""
    ops = [json.loads(line) for p in sorted(history.glob("ops-*.jsonl")) for line in p.read_text().splitlines()]
    done = [o for o in ops if o["type"] != "invoke" and not (o.get("value") or {}).get("interrupted")]
    outcomes = Counter(o["type"] for o in done)
    assert outcomes["ok"] > 300 and outcomes["fail"] == 0 and outcomes["info"] == 0, outcomes
    invoked = {o["id"]: o for o in ops if o["type"] == "invoke"}
    acked = {invoked[o["id"]]["value"]["key"] for o in ops if o["type"] == "ok" and o["f"] == "session"}
    final = [json.loads(line) for line in (history / "final.jsonl").read_text().splitlines()]
    assert acked and acked <= {k for r in final if r.get("f") == "session" for k in r["present"]}
