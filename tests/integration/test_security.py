"""The security drill's checks against the real stack, and each shown to fail when its property is broken behind
the harness's back (as the deployment drift check is): the steps are called as the suite calls them, on a
ScenarioDrill of the test's own, and the control each records is read back."""

from __future__ import annotations

import time

import pytest
from psycopg import sql

from steps import security as steps
from waqiti_drill.faults import health
from waqiti_drill.platform.local.layout import members
from waqiti_drill.platform.local.netpolicy import MemberPolicy
from waqiti_drill.platform.local.pgroles import superuser_connect
from waqiti_drill.suite.drill import ScenarioDrill
from waqiti_drill.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module", autouse=True)
def leave_the_monitoring_quiet(stack):
    """These tests' own refused logins (plain-text startups, md5 and replication attempts, outside any drill's
    watch) may raise PostgresFailedLogins, which the next module's drills would see fire with no fault of
    theirs: wait until its one-minute window has passed and no alert is active."""
    yield
    platform, ended = stack.platform(), time.monotonic()

    def quiet() -> tuple[bool, list[str]]:
        active = [a.name for a in platform.active_alerts()]
        return time.monotonic() - ended > 65 and not active, active

    wait_until(quiet, 240, "the failed-login window to pass and no alert to be active", interval=2.0)


@pytest.fixture
def drill(stack, tmp_path):
    platform = stack.platform()
    return ScenarioDrill(settings=stack.settings, config_file=str(stack.config), directory=tmp_path,
                         platform=platform)


def _fails(step, drill: ScenarioDrill, *args) -> list[str]:  # noqa: ANN001
    """Run a check that must fail; the FAIL findings of the control it recorded."""
    with pytest.raises(AssertionError):
        step(drill, *args)
    check = drill.controls[-1]
    assert not check.passed
    return [f for f in check.findings if f.startswith("FAIL")]


def _on_every_member(stack, statement: str) -> None:
    platform = stack.platform()
    for m in members(stack.settings):
        with superuser_connect(platform.context(), m) as conn:
            conn.execute(statement)
            conn.execute("SELECT pg_reload_conf()")


def test_audit_records_a_canary_statement_and_the_check_fails_without_pgaudit(stack, drill):
    steps.canary_statement(drill)
    steps.audit_recorded(drill, 10.0)
    assert drill.controls[-1].passed and "AUDIT: SESSION" in drill.controls[-1].findings[0]
    _on_every_member(stack, "ALTER SYSTEM SET pgaudit.log = 'none'")
    try:
        time.sleep(1.0)  # the reload reaches every backend at its next command
        steps.canary_statement(drill)
        failed = _fails(steps.audit_recorded, drill, 3.0)
        assert failed and "no audit record of the canary statement" in failed[0]
    finally:
        _on_every_member(stack, "ALTER SYSTEM RESET pgaudit.log")


def test_outsiders_are_refused_and_the_check_fails_when_a_member_s_policy_is_removed(stack, drill):
    platform = stack.platform()
    if not platform.context().net.isolated:
        pytest.skip("the network policy needs the members in network namespaces (root)")
    steps.outsiders_refused(drill)
    said = drill.controls[-1].findings
    assert len(said) == 8 and all(f.startswith("ok: ") for f in said), said
    assert any("postgres pg1" in f and "TCP reset" in f for f in said)
    MemberPolicy(platform.context().net).remove("pg1")
    try:
        failed = _fails(steps.outsiders_refused, drill)
        assert {f.split(" to ")[1].split(":")[0] for f in failed} == {"postgres pg1 " + members(stack.settings)[0].host,
                                                                   "patroni pg1 " + members(stack.settings)[0].host}
    finally:
        restored = platform.heal_network()
    assert restored == ["applied the network policy of pg1"]
    steps.outsiders_refused(drill)
    assert health.problems(platform) == []


def test_the_application_role_is_minimal_and_the_check_fails_when_it_may_create_roles(stack, drill):
    steps.app_role_minimal(drill)
    findings = drill.controls[-1].findings
    assert any("create a role: refused" in f for f in findings) and any("replication connection: refused" in f
                                                                          for f in findings)
    _on_primary(stack, "ALTER ROLE waqiti_user CREATEROLE")
    try:
        failed = _fails(steps.app_role_minimal, drill)
        assert any("waqiti_user: createrole" in f for f in failed)
        assert any("could create a role" in f for f in failed)
    finally:
        _on_primary(stack, "ALTER ROLE waqiti_user NOCREATEROLE")
        _on_primary(stack, "DROP ROLE IF EXISTS wd_escalation_probe")


def _on_primary(stack, statement: str | sql.Composable) -> None:
    platform = stack.platform()
    name = next(m.name for m in platform.postgres_members() if m.role == "primary")
    primary = next(m for m in members(stack.settings) if m.name == name)
    with superuser_connect(platform.context(), primary) as conn:
        conn.execute(statement)


def test_passwords_are_scram_and_the_check_fails_on_an_md5_role(stack, drill):
    steps.passwords_strong(drill)
    findings = drill.controls[-1].findings
    assert any("md5 password, with the right password: " in f and "password authentication failed" in f
               for f in findings)
    platform = stack.platform()
    assert "wd_md5_probe" not in {r.name for r in platform.login_roles()}, "the probe's role is dropped"
    stored = "md5" + "0" * 32
    _on_primary(stack, sql.SQL("CREATE ROLE wd_weak LOGIN PASSWORD {}").format(sql.Literal(stored)))
    try:
        failed = _fails(steps.passwords_strong, drill)
        assert failed == ["FAIL: role wd_weak: md5"]
    finally:
        _on_primary(stack, "DROP ROLE IF EXISTS wd_weak")


def test_every_endpoint_is_tls_1_2_only_and_the_check_fails_when_a_redis_node_allows_tls_1_1(stack, drill):
    from waqiti_drill.platform.local.redis_cluster import RedisCluster

    steps.no_plaintext(drill)
    steps.tls_versions(drill)
    steps.client_certificates(drill)
    seen = drill.controls[-2].findings
    for name in ("postgres pg1 ", "patroni pg1 ", "etcd ", "s3 ", "redis bus "):
        assert any(f.startswith(f"ok: {name}") for f in seen), (name, seen)
    assert len(seen) >= 25 and all("TLS 1.2 TLSv1.2" in f for f in seen), seen
    platform = stack.platform()
    redis = RedisCluster(platform.context())
    node = redis.addresses()[0]
    redis.command(node, "CONFIG", "SET", "tls-protocols", "TLSv1.1 TLSv1.2 TLSv1.3")
    redis.command(node, "CONFIG", "SET", "tls-ciphers", "DEFAULT:@SECLEVEL=0")
    try:
        failed = _fails(steps.tls_versions, drill)
        # the node itself, its cluster bus and the global Redis name (whose seed it is) now complete TLS 1.1
        assert any(f.startswith(f"FAIL: redis node {node}:") and "TLS 1.1 TLSv1.1" in f for f in failed), failed
        bus = f"redis bus 127.0.0.1:{redis.bus_port(node)}:"
        assert all(f.startswith((f"FAIL: redis node {node}:", f"FAIL: {bus}", "FAIL: redis (global endpoint)"))
                   for f in failed), failed
    finally:
        redis.command(node, "CONFIG", "SET", "tls-protocols", "TLSv1.2 TLSv1.3")
        redis.command(node, "CONFIG", "SET", "tls-ciphers", "DEFAULT")
    steps.tls_versions(drill)
