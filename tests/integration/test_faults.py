"""The Platform's node-level fault primitives against the real stack, each followed by recovery."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from waqiti_drill.platform.local.layout import member
from waqiti_drill.platform.local.patroni import PatroniCluster
from waqiti_drill.platform.local.redis_cluster import RedisCluster
from waqiti_drill.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _rw_port(platform) -> int:  # noqa: ANN001
    with psycopg.connect(**platform.postgres_connect_kwargs(), connect_timeout=3, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS fault_probe (id serial primary key, at timestamptz default now())")
        conn.execute("INSERT INTO fault_probe DEFAULT VALUES")
        return conn.execute("SELECT inet_server_port()").fetchone()[0]


def _primary(platform):  # noqa: ANN001, ANN202
    return next(m for m in platform.postgres_members() if m.role == "primary")


def _wait_primary_port(platform, port: int, timeout: float) -> None:  # noqa: ANN001
    wait_until(lambda: (_rw_port(platform) == port, "rw endpoint not there yet"), timeout,
               f"the rw endpoint to write on port {port}")


def test_switchover_to_an_async_replica_is_refused_in_synchronous_mode(stack):
    from waqiti_drill.errors import CommandFailed

    platform = stack.platform()
    candidate = next(m for m in platform.postgres_members() if m.role == "replica")
    with pytest.raises(CommandFailed, match="does not match with sync_standby"):
        platform.switchover(candidate.name)


def test_switchover_to_the_named_sync_standby_and_the_endpoint_follows(stack):
    platform = stack.platform()
    old = _primary(platform)
    candidate = next(m for m in platform.postgres_members() if m.role == "sync_standby")
    platform.switchover(candidate.name)
    _wait_primary_port(platform, candidate.port, 60)
    PatroniCluster(platform.context()).wait_healthy(90)
    roles = {m.name: m.role for m in platform.postgres_members()}
    assert roles[candidate.name] == "primary" and roles[old.name] in ("replica", "sync_standby")


def test_killed_primary_fails_over_and_rejoins_as_replica(stack):
    platform = stack.platform()
    old = _primary(platform)
    platform.kill_member(old.name)
    assert platform.supervisor.pids_under(member(stack.settings, old.name).base) == []

    def new_primary() -> tuple[bool, str]:
        roles = {m.name: (m.role, m.state) for m in platform.postgres_members()}
        promoted = [n for n, (role, state) in roles.items() if role == "primary" and n != old.name]
        return bool(promoted), str(roles)

    wait_until(new_primary, 90, "a replica to be promoted after the primary was killed")
    new = _primary(platform)
    _wait_primary_port(platform, new.port, 30)
    platform.start_member(old.name)
    view = PatroniCluster(platform.context()).wait_healthy(120)
    rejoined = next(m for m in view if m.name == old.name)
    current = next(m for m in view if m.role == "primary")
    assert current.name == new.name
    assert rejoined.role in ("replica", "sync_standby") and rejoined.timeline == current.timeline


def _states(pids: list[int]) -> set[str]:
    out = set()
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat").read_text()
        out.add(stat[stat.rindex(")") + 2])
    return out


def test_freeze_and_thaw_an_async_replica(stack):
    platform = stack.platform()
    replica = next(m for m in platform.postgres_members() if m.role == "replica")
    base = member(stack.settings, replica.name).base
    platform.freeze_member(replica.name)
    try:
        assert _states(platform.supervisor.pids_under(base)) == {"T"}
    finally:
        platform.thaw_member(replica.name)
    assert "T" not in _states(platform.supervisor.pids_under(base))
    PatroniCluster(platform.context()).wait_healthy(60)


def test_killed_redis_master_is_replaced_by_its_replica_and_rejoins(stack):
    platform = stack.platform()
    redis = RedisCluster(platform.context())
    before = platform.redis_status()
    victim = next(n for n in before.nodes if n.role == "master")
    heir = next(n for n in before.nodes if n.master_id == victim.node_id)
    platform.kill_redis_node(victim.address)

    def promoted() -> tuple[bool, str]:
        role = redis.client(heir.address).execute_command("ROLE")[0]
        return role == "master", f"{heir.address} role {role}"

    wait_until(promoted, 60, f"replica {heir.address} to be promoted after {victim.address} was killed")
    platform.start_redis_node(victim.address)
    redis.wait_ready(60)
    after = {n.address: n for n in platform.redis_status().nodes}
    assert after[victim.address].role == "replica" and after[heir.address].role == "master"
    assert after[heir.address].slots == victim.slots


def test_unknown_names_are_refused(stack):
    from waqiti_drill.errors import InvalidConfig

    platform = stack.platform()
    with pytest.raises(InvalidConfig, match="valid: pg1, pg2, pg3"):
        platform.kill_member("pg9")
    with pytest.raises(InvalidConfig, match="unknown Redis node"):
        platform.kill_redis_node("127.0.0.1:1")


def test_dcs_killed_and_restarted_then_frozen_and_thawed(stack):
    from waqiti_drill.platform.local.etcd import PROCESS, Etcd

    platform = stack.platform()
    etcd = Etcd(platform.context())
    platform.kill_dcs()
    try:
        assert platform.supervisor.pid_of(PROCESS) is None and platform.supervisor.pids_under(etcd.dir) == []
    finally:
        platform.start_dcs()  # the tests after this one need the DCS whatever happened here
    assert platform.supervisor.pid_of(PROCESS) is not None
    platform.freeze_dcs()
    try:
        assert _states(platform.supervisor.pids_under(etcd.dir)) == {"T"}
        with pytest.raises(OSError):
            etcd.healthy()  # a hung DCS answers nothing
    finally:
        platform.thaw_dcs()
    etcd.wait_ready(30)
    PatroniCluster(platform.context()).wait_healthy(90)
