"""Redis ACL users: what is rendered, how a node's answer is read back, and a real redis-server started
from the rendered redis.conf doing what the rules claim (TLS only, each user limited)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from waqiti_drill.config import Settings
from waqiti_drill.errors import InvalidConfig
from waqiti_drill.platform.base import RedisClientSettings
from waqiti_drill.platform.local.context import LocalContext
from waqiti_drill.platform.local.redis_access import cli_args, cli_env, client_settings, node_client
from waqiti_drill.platform.local.redis_acl import (
    ADMIN_USER,
    APP_USER,
    MONITOR_USER,
    REPLICATION_USER,
    acl_lines,
    canonical_commands,
    describe_user,
    password,
    password_hash,
)
from waqiti_drill.platform.local.redis_conf import render_conf
from waqiti_drill.platform.local.runas import RunAs
from waqiti_drill.platform.local.supervisor import Supervisor
from waqiti_drill.platform.local.tls import ensure_tls
from waqiti_drill.platform.redis_client import redis_py_kwargs
from waqiti_drill.secrets import ENV_NAMES, Secrets

SECRETS = Secrets(**{name: f"pw-{name}" for name in ENV_NAMES})


def test_acl_lines_reset_each_user_and_hold_only_digests():
    lines = acl_lines(SECRETS)
    assert lines[-1] == f"masteruser {REPLICATION_USER}"
    users = {line.split()[1]: line for line in lines if line.startswith("user ")}
    assert sorted(users) == sorted([APP_USER, ADMIN_USER, REPLICATION_USER, MONITOR_USER])
    for name, line in users.items():
        secret = password(SECRETS, name)
        assert line.startswith(f"user {name} reset on #{password_hash(secret)} "), line  # reset: no leftover nopass
        assert secret not in line
    assert users[APP_USER].endswith("~* &* +@all -@dangerous -@admin")
    assert users[REPLICATION_USER].endswith("-@all +psync +replconf +ping")
    assert "resetkeys" in users[MONITOR_USER] and "+config" not in users[MONITOR_USER]
    assert "slowlog|get" not in users[MONITOR_USER]  # shows command arguments, i.e. data


def test_the_application_keeps_drill_redis_password_and_the_others_are_generated():
    assert ENV_NAMES["redis_password"] == "DRILL_REDIS_PASSWORD"
    for name in ("redis_admin_password", "redis_replication_password", "redis_monitor_password"):
        assert name in ENV_NAMES and ENV_NAMES[name] is None
    assert password(SECRETS, APP_USER) == "pw-redis_password"


def test_a_user_without_a_password_or_an_unknown_user_is_refused():
    empty = dataclasses.replace(SECRETS, redis_monitor_password="")
    with pytest.raises(InvalidConfig, match="waqiti_monitor has no password"):
        acl_lines(empty)
    with pytest.raises(InvalidConfig, match="unknown Redis ACL user 'root'; valid: default, waqiti_admin"):
        password(SECRETS, "root")


def test_password_hash_is_redis_sha256_hex():
    assert password_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_describe_user_reads_getuser_without_the_digests():
    reply = ["flags", ["on", "sanitize-payload"], "passwords", ["ab" * 32], "commands", "-@all +ping +replconf +psync",
             "keys", "", "channels", "", "selectors", []]
    user = describe_user(REPLICATION_USER, reply)
    assert user.enabled and user.password == "sha-256" and user.keys == "" and user.channels == ""
    assert user.commands == "-@all +ping +psync +replconf"
    assert "ab" * 32 not in str(user)
    parsed = dict(zip(reply[::2], reply[1::2], strict=True))  # what redis-py's ACL GETUSER callback returns
    assert describe_user(REPLICATION_USER, parsed) == user
    open_door = describe_user("default", ["flags", ["on", "nopass"], "passwords", [], "commands", "+@all"])
    assert open_door.password == "nopass"
    assert describe_user("x", ["flags", ["off"], "passwords", []]).password == "none"


def test_canonical_commands_sorts_only_runs_that_commute():
    assert canonical_commands("-@all +slowlog|len +info +ping") == "-@all +info +ping +slowlog|len"
    assert canonical_commands("+@all -@dangerous") == "+@all -@dangerous"
    assert canonical_commands("+@all -keys -flushall +get") == "+@all -flushall -keys +get"  # order across signs kept
    assert canonical_commands("") == ""


def test_client_settings_verify_the_server_and_offer_tls12_at_least(tmp_path):
    ctx = _context(tmp_path, SECRETS)
    settings = client_settings(ctx)
    assert settings == RedisClientSettings(tls=True, ca_file=str(tmp_path / "tls" / "ca.crt"), username="default")
    kwargs = redis_py_kwargs(settings, "pw")
    assert kwargs["ssl"] is True and kwargs["ssl_cert_reqs"] == "required" and kwargs["ssl_check_hostname"] is True
    assert kwargs["ssl_min_version"].name == "TLSv1_2"
    assert redis_py_kwargs(RedisClientSettings(False, "", "default"), "pw") == {"username": "default",
                                                                                  "password": "pw"}
    with pytest.raises(InvalidConfig, match="unknown minimum TLS version 'TLSv1.1'"):
        redis_py_kwargs(dataclasses.replace(settings, min_tls_version="TLSv1.1"), "pw")
    assert cli_args(ctx) == ["--tls", "--cacert", str(tmp_path / "tls" / "ca.crt"), "--user", ADMIN_USER]
    assert cli_env(ctx) == {"REDISCLI_AUTH": "pw-redis_admin_password"}


def test_the_exporters_connect_over_tls_as_the_monitoring_user(tmp_path):
    from waqiti_drill.platform.local.monitoring.exporters import (
        ExporterFiles,
        redis_exporter_env,
        render_exporter_files,
    )

    ctx = _context(tmp_path, SECRETS)
    files = ExporterFiles(tmp_path / "monitoring")
    render_exporter_files(ctx, files)
    env = redis_exporter_env(ctx, 25501, files)
    assert env["REDIS_ADDR"] == "rediss://127.0.0.1:25501" and env["REDIS_USER"] == MONITOR_USER
    assert env["REDIS_EXPORTER_TLS_CA_CERT_FILE"] == str(tmp_path / "tls" / "ca.crt")
    passwords = json.loads(files.redis_passwords.read_text())
    assert passwords["rediss://127.0.0.1:25501"] == "pw-redis_monitor_password"
    assert set(passwords.values()) == {"pw-redis_monitor_password"}  # never the application's or the admin's


# ----- a real node from the rendered configuration ---------------------------------------------------
def _context(state: Path, secrets: Secrets) -> LocalContext:
    user = RunAs("me", os.geteuid(), os.getegid(), str(state))
    return LocalContext(Settings(state_dir=state), secrets, user, Supervisor(state, user))


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalContext, int]]:
    """One redis-server started from render_conf (cluster mode, TLS only, the four users)."""
    state = tmp_path_factory.mktemp("acl")
    ctx = _context(state, SECRETS)
    ensure_tls(state, ctx.user, ["127.0.0.1"], [])
    port, node_dir = _free_port(), state / "node"
    node_dir.mkdir()
    (node_dir / "redis.conf").write_text(render_conf("127.0.0.1", port, _free_port(), node_dir, SECRETS, ctx.tls))
    proc = subprocess.Popen(["redis-server", str(node_dir / "redis.conf")], cwd=node_dir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_answering(ctx, port, proc)
        yield ctx, port
    finally:
        proc.kill()
        proc.wait()


def _wait_answering(ctx: LocalContext, port: int, proc: subprocess.Popen[bytes]) -> None:
    """Until it answers over TLS as the admin; then it takes every slot (a one-node cluster) and says ok."""
    deadline = time.monotonic() + 15
    while True:
        with contextlib.suppress(redis.RedisError), node_client(ctx, port) as r:
            if r.ping():
                break
        assert proc.poll() is None, "redis-server refused the rendered redis.conf"
        assert time.monotonic() < deadline, "redis-server did not answer over TLS"
        time.sleep(0.1)
    with node_client(ctx, port) as r:
        r.execute_command("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
        while "cluster_state:ok" not in r.execute_command("CLUSTER", "INFO"):
            assert time.monotonic() < deadline, "the one-node cluster did not become ok"
            time.sleep(0.1)


def _as(ctx: LocalContext, port: int, name: str) -> redis.Redis:
    return node_client(ctx, port, name)


def test_the_rendered_node_gives_each_user_only_its_part(node):
    ctx, port = node
    with _as(ctx, port, APP_USER) as app:
        assert app.execute_command("ACL", "WHOAMI") == "default"
        app.set("wd:acl", "1")
        assert app.get("wd:acl") == "1" and app.execute_command("CLUSTER", "INFO")
        for refused in (["FLUSHALL"], ["CONFIG", "SET", "maxmemory", "1"], ["KEYS", "*"], ["ACL", "SETUSER", "x"],
                        ["INFO"]):
            with pytest.raises(redis.exceptions.NoPermissionError):
                app.execute_command(*refused)
        with pytest.raises(redis.ResponseError):
            app.execute_command("DEBUG", "SLEEP", "0")
    with _as(ctx, port, ADMIN_USER) as admin:
        refusal = admin.execute_command("ACL", "DRYRUN", "default", "DEBUG", "SLEEP", "0")
        assert "no permissions to run the 'debug'" in refusal  # the ACL's refusal, not enable-debug-command's
        assert admin.execute_command("ACL", "DRYRUN", REPLICATION_USER, "PSYNC", "?", "-1") == "OK"
        assert admin.execute_command("ACL", "DRYRUN", REPLICATION_USER, "GET", "wd:acl") != "OK"
        assert admin.config_get("requirepass")["requirepass"] == ""  # no requirepass: the ACL holds the digest
        assert describe_user(APP_USER, admin.execute_command("ACL", "GETUSER", APP_USER)).commands == \
            "+@all -@dangerous"  # Redis 7.0 folds -@admin into -@dangerous
    with _as(ctx, port, MONITOR_USER) as monitor:
        assert "redis_version" in monitor.info() and monitor.execute_command("CLUSTER", "INFO")
        for refused in (["GET", "wd:acl"], ["CONFIG", "GET", "masterauth"], ["SLOWLOG", "GET"]):
            with pytest.raises(redis.exceptions.NoPermissionError):
                monitor.execute_command(*refused)


def test_the_rendered_node_refuses_a_wrong_password_and_plaintext(node):
    ctx, port = node
    wrong = dataclasses.replace(ctx, secrets=dataclasses.replace(SECRETS, redis_password="not-it"))
    with pytest.raises(redis.AuthenticationError), node_client(wrong, port, APP_USER) as r:
        r.ping()
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(b"PING\r\n")
        sock.settimeout(3)
        with contextlib.suppress(ConnectionResetError):
            assert not sock.recv(64).startswith((b"+", b"-")), "the node answered RESP over plain TCP"


def test_node_clients_trust_the_stacks_ca_alone_and_close_their_connection(node, tmp_path):
    from waqiti_drill.platform.redis_client import PinnedCaConnection, pinned_context

    ctx, port = node
    with node_client(ctx, port) as r:
        assert r.ping()
        pool = r.connection_pool
        assert pool.connection_class is PinnedCaConnection
        (conn,) = pool._available_connections  # noqa: SLF001 - the one connection the PING used
        assert conn._sock.version() in ("TLSv1.2", "TLSv1.3")  # noqa: SLF001
    assert conn._sock is None  # noqa: SLF001 - closing the client closed its connection
    pinned = pinned_context(str(ctx.tls.ca_cert), ctx.tls.ca_cert.stat().st_mtime_ns, ssl.TLSVersion.TLSv1_2)
    assert len(pinned.get_ca_certs()) == 1  # not the system's trust store
    other = dataclasses.replace(ctx, settings=dataclasses.replace(ctx.settings, state_dir=tmp_path))
    ensure_tls(tmp_path, ctx.user, ["127.0.0.1"], [])  # another CA, with the same secrets
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"), node_client(other, port) as r:
        r.ping()


def test_the_rendered_node_refuses_tls11_which_the_same_probe_completes_elsewhere(node):
    """The probe offers TLS 1.1 for real (a throwaway server that allows it completes the handshake), so the
    rendered node's refusal is the node's, not this machine's OpenSSL policy."""
    import threading

    from waqiti_drill.security.tlsprobe import tls_handshake

    ctx, port = node
    tls11, ca = ssl.TLSVersion.TLSv1_1, ctx.tls.ca_cert
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(ctx.tls.cert, ctx.tls.key)
    server.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    server.set_ciphers("DEFAULT:@SECLEVEL=0")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        def serve() -> None:
            conn, _ = listener.accept()
            with contextlib.suppress(OSError), server.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        allowed = tls_handshake("127.0.0.1", listener.getsockname()[1], ca, max_version=tls11)
        thread.join(10)
    assert allowed.version == "TLSv1.1", allowed
    refused = tls_handshake("127.0.0.1", port, ca, max_version=tls11)
    assert not refused.ok and "VERSION" in (refused.error or "").upper(), refused
    assert tls_handshake("127.0.0.1", port, ca, max_version=ssl.TLSVersion.TLSv1_2).version == "TLSv1.2"
