"""The application role and database the spec names (waqiti_user, waqiti), created once.

The password is sent as a SCRAM-SHA-256 verifier computed here, as psql's \\password does, so the
plain text never reaches the server, its statement log or an error message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

import psycopg
from psycopg import sql

from waqiti_drill.platform.local.context import LocalContext
from waqiti_drill.platform.local.layout import MemberLocation
from waqiti_drill.waiting import wait_until


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = 4096) -> str:
    """RFC 5802/7677 stored verifier in PostgreSQL's format: SCRAM-SHA-256$iter:salt$StoredKey:ServerKey."""
    salt = salt or os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def superuser_connect(ctx: LocalContext, member: MemberLocation, dbname: str = "postgres") -> psycopg.Connection:
    """A superuser connection over the member's Unix socket (not TCP, so no TLS is involved)."""
    return psycopg.connect(
        host=str(member.socket_dir),
        port=member.port,
        user="postgres",
        password=ctx.secrets.superuser_password,
        dbname=dbname,
        autocommit=True,
        connect_timeout=5,
    )


def wait_writable(ctx: LocalContext, primary: MemberLocation, timeout: float = 60.0) -> None:
    """Until the member Patroni calls primary has left recovery: right after an outage of the DCS,
    Patroni reports the leader before PostgreSQL has finished promoting, and a write would fail with
    ReadOnlySqlTransaction."""

    def out_of_recovery() -> tuple[bool, str]:
        with superuser_connect(ctx, primary) as conn:
            in_recovery = conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
        return not in_recovery, f"{primary.name} pg_is_in_recovery={in_recovery}"

    wait_until(out_of_recovery, timeout, f"the primary {primary.name} to accept writes")


# Least privilege, stated rather than left to defaults: the application logs in and owns its database,
# and nothing else (no superuser, no role or database creation, no replication, no row-security bypass).
APP_ROLE_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
# A schema of the application database the application role is never granted: what the RBAC drill tries
# to read (a real deployment has such data: an operator's tables, a vault of tokens).
RESTRICTED_SCHEMA = "waqiti_restricted"


def ensure_app_role_and_database(ctx: LocalContext, primary: MemberLocation) -> None:
    settings = ctx.settings
    wait_writable(ctx, primary)
    with superuser_connect(ctx, primary) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (settings.app_user,)).fetchone()
        verifier = scram_verifier(ctx.secrets.postgres_password)
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL("{} ROLE {} {} PASSWORD {}").format(
                sql.SQL(verb), sql.Identifier(settings.app_user), sql.SQL(APP_ROLE_ATTRIBUTES), sql.Literal(verifier)
            )
        )
        has_db = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (settings.database,)).fetchone()
        if not has_db:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(settings.database), sql.Identifier(settings.app_user)
                )
            )
    with superuser_connect(ctx, primary, settings.database) as conn:
        # pgaudit's event triggers (object names of DDL in the audit log) need the extension in the database.
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgaudit")
        schema = sql.Identifier(RESTRICTED_SCHEMA)
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION postgres").format(schema))
        conn.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(schema))
        conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {}.operator_notes (id int PRIMARY KEY, note text)")
                     .format(schema))
