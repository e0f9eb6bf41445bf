"""Deployment conformance steps: every row of a table is read from the live system and compared; a
mismatch fails naming the setting with its expected and actual value (all mismatches at once)."""

from __future__ import annotations

from collections.abc import Callable

from pytest_bdd import then

from waqiti_drill.suite import backup_conformance as backups
from waqiti_drill.suite import conformance
from waqiti_drill.suite.drill import ScenarioDrill

Reader = Callable[[ScenarioDrill, list[str]], dict[str, str]]


def rows(datatable: list[list[str]]) -> list[tuple[str, str]]:
    """(setting, expected) rows of a `| setting | expected |` table, header row first."""
    header = [c.strip().lower() for c in datatable[0]]
    assert header[:2] == ["setting", "expected"], f"the table needs | setting | expected | columns, got {header}"
    return [(r[0].strip(), r[1].strip()) for r in datatable[1:]]


def compare(drill: ScenarioDrill, where: str, table: list[list[str]], actual: dict[str, str]) -> None:
    """Record every reading, then fail listing each setting whose live value differs from the spec's."""
    wrong = []
    for setting, expected in rows(table):
        value = actual.get(setting)
        drill.measurements[f"{where}: {setting}"] = "missing" if value is None else value
        if value is None or not conformance.same(expected, value):
            shown = "(not reported: unknown or not visible to this role)" if value is None else value
            wrong.append(f"{setting}: expected {expected}, actual {shown}")
    assert not wrong, f"{where} differs from the spec: " + "; ".join(wrong)


@then("the PostgreSQL settings on the primary are:")
def postgres_settings(drill: ScenarioDrill, datatable: list[list[str]]) -> None:
    names = [s for s, _ in rows(datatable)]
    compare(drill, "postgres", datatable, conformance.postgres_settings(drill.platform, names))


@then("a connection without TLS is refused")
def plaintext_refused(drill: ScenarioDrill) -> None:
    drill.measurements["postgres: plaintext connection"] = "refused: " + conformance.plaintext_refusal(drill.platform)


@then("the harness's own session runs over TLS:")
def session_tls(drill: ScenarioDrill, datatable: list[list[str]]) -> None:
    compare(drill, "postgres session", datatable, conformance.postgres_session_tls(drill.platform))


@then("Patroni's cluster configuration is:")
def patroni_config(drill: ScenarioDrill, datatable: list[list[str]]) -> None:
    compare(drill, "patroni", datatable, conformance.patroni_config(drill.platform))


@then("the cluster has 3 members: one primary, one synchronous standby and one replica, all running")
def three_members(drill: ScenarioDrill) -> None:
    members = drill.platform.postgres_members()
    seen = {m.name: f"{m.role}/{m.state}" for m in members}
    drill.measurements["postgres members"] = ", ".join(f"{k}={v}" for k, v in sorted(seen.items()))
    got = sorted(m.role for m in members if m.state in ("running", "streaming"))
    assert got == ["primary", "replica", "sync_standby"], f"members: {seen}"


@then("every Redis node is configured:")
def redis_config(drill: ScenarioDrill, datatable: list[list[str]]) -> None:
    names = [s for s, _ in rows(datatable)]
    failures = []
    for node in drill.platform.redis_nodes():
        try:
            compare(drill, f"redis {node.address}", datatable,
                    conformance.redis_node_config(drill.platform, node.address, names))
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "; ".join(failures)


@then("every Redis node has the ACL users:")
def redis_acl(drill: ScenarioDrill, datatable: list[list[str]]) -> None:
    failures = []
    for node in drill.platform.redis_nodes():
        try:
            compare(drill, f"redis {node.address} ACL", datatable, conformance.redis_acl(drill.platform, node.address))
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "; ".join(failures)


@then("on every Redis node the application's user may run only:")
def redis_app_user(drill: ScenarioDrill, datatable: list[list[str]]) -> None:
    lines = [s for s, _ in rows(datatable)]
    failures = []
    for node in drill.platform.redis_nodes():
        try:
            compare(drill, f"redis {node.address} application user", datatable,
                    conformance.redis_app_user_may_run(drill.platform, node.address, lines))
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "; ".join(failures)


@then("the Redis Cluster reports:")
def redis_cluster(drill: ScenarioDrill, datatable: list[list[str]]) -> None:
    compare(drill, "redis cluster", datatable, conformance.redis_cluster_info(drill.platform))


@then("the Redis Cluster has 3 masters serving slots, each with a connected replica")
def redis_topology(drill: ScenarioDrill) -> None:
    nodes = drill.platform.redis_nodes()
    masters = [n for n in nodes if n.role == "master" and n.slots and n.connected]
    paired = [m.address for m in masters if any(r.master_id == m.node_id and r.connected for r in nodes)]
    drill.measurements["redis topology"] = f"{len(masters)} masters, {len(nodes) - len(masters)} replicas"
    assert len(nodes) == 6 and len(masters) == 3 and len(paired) == 3, (
        f"{len(nodes)} nodes, {len(masters)} serving masters, {len(paired)} with a connected replica")


@then("every Redis node refuses a client without the password")
def redis_auth(drill: ScenarioDrill) -> None:
    for node in drill.platform.redis_nodes():
        drill.measurements[f"redis {node.address}: unauthenticated PING"] = (
            "refused: " + conformance.redis_unauthenticated(drill.platform, node.address))


@then("the backup repository is encrypted:")
def backups_encrypted(drill: ScenarioDrill, datatable: list[list[str]]) -> None:
    found = {**backups.object_store_encryption(drill.platform), **backups.retention(drill.platform)}
    compare(drill, "backups", datatable, found)


@then("the backup schedule and retention are:")
def backup_schedule(drill: ScenarioDrill, datatable: list[list[str]]) -> None:
    found = {**backups.schedule(drill.platform), **backups.retention(drill.platform)}
    compare(drill, "backup policy", datatable, found)
