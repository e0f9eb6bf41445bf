"""PostgreSQL HA as the spec describes it, read from the live members."""

from __future__ import annotations

import psycopg
import pytest

from waqiti_drill.platform.local.layout import members
from waqiti_drill.platform.local.patroniconf import SPEC_PARAMETERS

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_three_members_one_primary_one_sync_standby(stack):
    view = stack.platform().postgres_members()
    assert sorted(m.name for m in view) == ["pg1", "pg2", "pg3"]
    assert [m.role for m in view].count("primary") == 1
    assert [m.role for m in view].count("sync_standby") == 1
    assert all(m.state == "streaming" for m in view if m.role != "primary")
    assert len({m.timeline for m in view}) == 1


def test_synchronous_commit_is_in_force_on_the_primary(stack):
    from waqiti_drill.platform.local.layout import member
    from waqiti_drill.platform.local.pgroles import superuser_connect

    platform = stack.platform()
    primary = next(m.name for m in platform.postgres_members() if m.role == "primary")
    # pg_stat_replication hides sync_state from unprivileged roles: ask as the superuser.
    with superuser_connect(platform.context(), member(stack.settings, primary)) as conn:
        names = conn.execute("SHOW synchronous_standby_names").fetchone()[0]
        rows = conn.execute("SELECT application_name, sync_state FROM pg_stat_replication").fetchall()
        assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
    assert names.strip() not in ("", "*")
    assert sorted(state for _, state in rows) == ["async", "sync"]


def _live_settings(conn: psycopg.Connection) -> dict[str, tuple[str, str | None]]:
    rows = conn.execute("SELECT name, setting, unit FROM pg_settings").fetchall()
    return {name: (setting, unit) for name, setting, unit in rows}


UNITS = {"8kB": 8 * 1024, "kB": 1024, "MB": 1024**2, "GB": 1024**3}


def _normalise(value: str | int | float) -> float:
    """'256MB' -> bytes, plain numbers unchanged, so spec and live values compare exactly."""
    text = str(value)
    for suffix, factor in sorted(UNITS.items(), key=lambda kv: -len(kv[0])):
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "").isdigit():
            return float(text[: -len(suffix)]) * factor
    return float(text)


def test_every_spec_parameter_is_the_live_value_on_every_member(stack):
    platform = stack.platform()
    ctx = platform.context()
    from waqiti_drill.platform.local.pgroles import superuser_connect

    for m in members(stack.settings):
        with superuser_connect(ctx, m) as conn:
            live = _live_settings(conn)
        for name, expected in SPEC_PARAMETERS.items():
            setting, unit = live[name]
            actual = _normalise(setting) * (UNITS.get(unit or "", 1))
            assert actual == _normalise(expected), f"{m.name}: {name} is {setting}{unit or ''}, spec {expected}"


def test_plain_tcp_connection_is_refused(stack):
    kwargs = stack.platform().postgres_connect_kwargs()
    conninfo = kwargs["conninfo"].replace("sslmode=verify-full", "sslmode=disable")
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(conninfo, password=kwargs["password"], connect_timeout=5)
    direct = members(stack.settings)[0]
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(host=direct.host, port=direct.port, user="waqiti_user", dbname="waqiti",
                        password=kwargs["password"], sslmode="disable", connect_timeout=5)


def test_tls_below_1_2_is_refused_and_1_2_accepted(stack):
    kwargs = stack.platform().postgres_connect_kwargs()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(**kwargs, ssl_max_protocol_version="TLSv1.1", connect_timeout=5)
    with psycopg.connect(**kwargs, ssl_min_protocol_version="TLSv1.2", ssl_max_protocol_version="TLSv1.2",
                         connect_timeout=5) as conn:
        row = conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert row == (True, "TLSv1.2")


def test_wrong_password_is_refused(stack):
    kwargs = stack.platform().postgres_connect_kwargs()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(kwargs["conninfo"], password="not-the-password", connect_timeout=5)


def test_endpoints_route_writes_to_primary_and_reads_to_a_replica(stack):
    platform = stack.platform()
    primary = next(m for m in platform.postgres_members() if m.role == "primary")
    with psycopg.connect(**platform.postgres_connect_kwargs(), autocommit=True) as rw:
        assert rw.execute("SELECT pg_is_in_recovery(), inet_server_port()").fetchone() == (False, primary.port)
        rw.execute("CREATE TABLE IF NOT EXISTS it_probe (id int primary key)")
    with psycopg.connect(**platform.postgres_connect_kwargs(read_only=True), autocommit=True) as ro:
        assert ro.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            ro.execute("INSERT INTO it_probe VALUES (1)")
