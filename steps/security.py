"""Security steps: each of the spec's security promises read from the live platform and recorded as a control.

Every check records a ControlCheck (results.json, the evidence's security section) before it asserts, so a
failed control is in the evidence with its findings, not only in the step's error. A finding is one line per
thing examined, "ok: ..." or "FAIL: ..."; other lines (what was not probed, and why) are context.
"""

from __future__ import annotations

import contextlib
import secrets
import ssl
import time
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import errors, sql
from pytest_bdd import parsers, then, when

from waqiti_drill.errors import WaitTimeout
from waqiti_drill.monitoring.expected import FAILED_LOGIN_ALERT
from waqiti_drill.platform.base import SecuredEndpoint, TlsTrust
from waqiti_drill.results import ControlCheck
from waqiti_drill.security import tlsprobe
from waqiti_drill.security.controls import (
    AT_REST,
    AUDIT,
    BACKUP_ENCRYPTION,
    FAILED_LOGINS,
    LEAST_PRIVILEGE,
    MUTUAL_TLS,
    NETWORK_POLICY,
    PASSWORDS,
    TLS_PLAINTEXT,
    TLS_VERSION,
    SecurityControl,
    finding,
)
from waqiti_drill.suite.drill import ScenarioDrill
from waqiti_drill.timefmt import parse_utc
from waqiti_drill.waiting import wait_until

CIPHERTEXT = "the backup tool's own ciphertext"
RESTRICTED = "waqiti_restricted.operator_notes"  # a table of the application database it was never granted
# Administrative commands the application's Redis user must be refused. Each is harmless if it were allowed
# (a check that flushed or shut the cluster down when the control is missing would break what it checks).
REDIS_ADMIN_COMMANDS = (("CONFIG", "GET", "maxmemory"), ("KEYS", "wd:no-such-key:*"), ("SLOWLOG", "GET", "1"),
                        ("ACL", "LIST"), ("CLIENT", "KILL", "ID", "0"), ("CLUSTER", "SETSLOT", "0", "STABLE"))


def record(drill: ScenarioDrill, control: SecurityControl, findings: list[str], how: str | None = None) -> ControlCheck:
    """Keep the check in the scenario's record, then fail the step when it did not pass."""
    check = control.check(findings, how)
    drill.controls.append(check)
    failed = [f for f in findings if f.startswith("FAIL")] or ["nothing was examined"]
    assert check.passed, f"{control.control}: {'; '.join(failed)}"
    return check


@contextlib.contextmanager
def own_refused_logins(drill: ScenarioDrill, what: str) -> Iterator[None]:
    """The probes inside are refused logins (a plain-text startup, a replication connection, an md5 role), which
    the failed-login alert counts. Told to the scenario's monitoring watch, an alert they raise is explained
    (not a false positive) but not judged: the drill probes the server, it does not drill the alert."""
    watch = drill.watch
    if watch is not None:
        watch.add(FAILED_LOGIN_ALERT, {}, what, required=False)
    try:
        yield
    finally:
        if watch is not None:
            watch.end(FAILED_LOGIN_ALERT)


def _client_cert(trust: TlsTrust, endpoint: SecuredEndpoint) -> tuple[str, str] | None:
    if not endpoint.client_cert_required or trust.client_cert is None:
        return None
    return trust.client_cert, str(trust.client_key)


def _wire(endpoint: SecuredEndpoint) -> str:
    return "postgres" if endpoint.protocol == "postgres" else "tls"


# ----- TLS ---------------------------------------------------------------------------------------------
@then("no endpoint serves a plain-text connection")
def no_plaintext(drill: ScenarioDrill) -> None:
    findings = []
    with own_refused_logins(drill, "plain-text startups of the TLS probe"):
        for e in drill.platform.secured_endpoints():
            try:
                refused, said = tlsprobe.plaintext_refused(e.host, e.port, e.protocol)
            except OSError as exc:
                refused, said = False, f"could not be reached ({exc})"
            findings.append(finding(refused, f"{e.name} {e.host}:{e.port}: {said}"))
    findings += [f"plain text by design: {x}" for x in drill.platform.plaintext_endpoints()]
    record(drill, TLS_PLAINTEXT, findings)


@then("every endpoint refuses a TLS 1.1 handshake and completes a TLS 1.2 one")
def tls_versions(drill: ScenarioDrill) -> None:
    trust = drill.platform.tls_trust()
    findings = []
    for e in drill.platform.secured_endpoints():
        cert = _client_cert(trust, e)
        old = tlsprobe.tls_handshake(e.host, e.port, trust.ca_file, ssl.TLSVersion.TLSv1_1, cert, _wire(e))
        new = tlsprobe.tls_handshake(e.host, e.port, trust.ca_file, ssl.TLSVersion.TLSv1_2, cert, _wire(e))
        ok = not old.ok and new.ok and new.version == "TLSv1.2"
        findings.append(finding(ok, f"{e.name} {e.host}:{e.port}: TLS 1.1 {old}; TLS 1.2 {new}"))
    record(drill, TLS_VERSION, findings)


@then("the control plane refuses a client without a client certificate")
def client_certificates(drill: ScenarioDrill) -> None:
    trust = drill.platform.tls_trust()
    findings = []
    for e in drill.platform.secured_endpoints():
        if not e.client_cert_required:
            continue
        bare = tlsprobe.tls_handshake(e.host, e.port, trust.ca_file, None, None, _wire(e))
        findings.append(finding(not bare.ok, f"{e.name} {e.host}:{e.port} without a client certificate: {bare}"))
    if not findings:
        findings.append(finding(False, "no endpoint of the platform requires a client certificate"))
    record(drill, MUTUAL_TLS, findings)


# ----- at rest -------------------------------------------------------------------------------------------
@when("a canary is written through the application to PostgreSQL and Redis")
def canary_written(drill: ScenarioDrill) -> None:
    """A value that appears nowhere else, stored as an application would store card data."""
    canary = f"wd-canary-{secrets.token_hex(16)}"
    with psycopg.connect(**drill.platform.postgres_connect_kwargs(), autocommit=True, connect_timeout=10) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS security_canary (id bigserial PRIMARY KEY, value text NOT NULL, "
                     "written_at timestamptz NOT NULL DEFAULT now())")
        conn.execute("INSERT INTO security_canary (value) VALUES (%s)", (canary,))
    with _redis(drill) as client:
        client.set(f"wd:canary:{canary[-8:]}", canary)
    drill.notes["canary"] = canary


def _redis(drill: ScenarioDrill) -> Any:  # noqa: ANN401 - a redis-py cluster client
    from waqiti_drill.workload import redis_ops

    return redis_ops.connect_cluster(drill.platform.redis_seed_nodes(), drill.platform.redis_password(),
                                     drill.platform.redis_client_settings())


@then("the canary reads back through the database and through Redis")
def canary_reads_back(drill: ScenarioDrill) -> None:
    canary = drill.notes["canary"]
    with psycopg.connect(**drill.platform.postgres_connect_kwargs(), autocommit=True, connect_timeout=10) as conn:
        rows = conn.execute("SELECT count(*) FROM security_canary WHERE value = %s", (canary,)).fetchone()[0]
    with _redis(drill) as client:
        cached = client.get(f"wd:canary:{canary[-8:]}")
    same = "the same value" if cached == canary else repr(cached)
    record(drill, AT_REST, [finding(rows == 1, f"PostgreSQL returns the canary row ({rows} row)"),
                            finding(cached == canary, f"Redis returns the canary key ({same})")],
           how="the canary read back through the application's own connections (the data is readable to them)")


@then("every data volume is encrypted with AES-256")
def volumes_encrypted(drill: ScenarioDrill) -> None:
    findings = []
    for v in drill.platform.encrypted_volumes():
        ok = "AES-256" in v.policy and bool(v.encrypted_dirs) and v.key_present
        findings.append(finding(ok, f"{v.name} ({v.holds}) on {v.device}: {v.policy}; "
                                    f"{len(v.encrypted_dirs)} directories under the policy; "
                                    f"key {'loaded' if v.key_present else 'absent'}"))
    if not findings:
        findings.append(finding(False, "the platform reports no data volume"))
    record(drill, AT_REST, findings, how="the encryption policy of every data directory, as the kernel reports it")


@then("the canary is absent from the raw bytes of every data volume")
def canary_absent(drill: ScenarioDrill) -> None:
    canary = drill.notes["canary"].encode()
    drill.platform.flush_to_disk()
    findings = [finding(not s.found and s.bytes_scanned > 0,
                        f"{s.volume}: {s.bytes_scanned} bytes of {s.device} scanned, canary "
                        f"{'FOUND in plain text' if s.found else 'not found'}")
                for s in drill.platform.scan_volumes(canary)]
    record(drill, AT_REST, findings or [finding(False, "no volume was scanned")],
           how="the canary searched for in each volume's raw bytes, after a checkpoint, an RDB save and a sync")


@then("the same scan finds a control written unencrypted to every data volume")
def control_found(drill: ScenarioDrill) -> None:
    control = f"wd-control-{secrets.token_hex(16)}".encode()  # never the canary: deleted files leave their blocks
    where = drill.platform.plant_unencrypted(control)
    drill.platform.flush_to_disk()
    scans = drill.platform.scan_volumes(control)
    findings = [finding(s.found, f"{s.volume}: control {'found' if s.found else 'NOT found'} in {s.device}")
                for s in scans]
    findings += [f"control written to {w}" for w in where]
    record(drill, AT_REST, findings or [finding(False, "no volume was scanned")],
           how="a control written unencrypted to each volume and searched for the same way: the scan sees plain text")


@then("backups are encrypted by the backup tool and by the object store")
def backups_encrypted(drill: ScenarioDrill) -> None:
    e = drill.platform.repository_encryption()
    record(drill, BACKUP_ENCRYPTION, [
        finding(e.bucket_default == "AES256", f"bucket default encryption: {e.bucket_default}"),
        finding(e.object_sse == "AES256", f"{e.object_key}: server-side encryption {e.object_sse}"),
        finding(e.client_encrypted, f"{e.object_key}: first bytes {e.first_bytes} "
                                    f"({CIPHERTEXT if e.client_encrypted else 'plain'})"),
    ])


# ----- audit ----------------------------------------------------------------------------------------------
@when("the application runs a canary statement")
def canary_statement(drill: ScenarioDrill) -> None:
    """The canary is a literal in the statement's text (pgaudit logs statements, not their parameters)."""
    canary = f"wd-audit-{secrets.token_hex(12)}"
    drill.notes["audit_since"] = time.time() - 1.0
    with psycopg.connect(**drill.platform.postgres_connect_kwargs(), autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("SELECT {} AS audit_canary").format(sql.Literal(canary)))
    drill.notes["audit_canary"] = canary


@then(parsers.parse("the database server's audit log records the canary statement within {seconds:g} seconds"))
def audit_recorded(drill: ScenarioDrill, seconds: float) -> None:
    canary, since = drill.notes["audit_canary"], drill.notes["audit_since"]
    app_user = drill.settings.app_user

    def logged() -> tuple[bool, int]:
        seen = drill.platform.audit_log(since)
        drill.notes["audit_seen"] = seen
        return any(canary in r.line and "AUDIT:" in r.line for r in seen), len(seen)

    with contextlib.suppress(WaitTimeout):  # the finding below says it was not found
        wait_until(logged, seconds, "the canary statement's audit record in a server log", interval=0.5)
    seen = drill.notes.get("audit_seen", [])
    audit = [r for r in seen if canary in r.line and "AUDIT:" in r.line]
    login = [r for r in seen if "connection authorized" in r.line and f"user={app_user}" in r.line]
    record(drill, AUDIT, [
        finding(bool(audit), f"{audit[0].member}: {_trim(audit[0].line)}" if audit
                else f"no audit record of the canary statement within {seconds:g} s ({len(seen)} log lines read)"),
        finding(bool(login), f"{login[0].member}: {_trim(login[0].line)}" if login
                else "no 'connection authorized' line for the application's session"),
    ])


@then(parsers.parse("the primary's log records the {count:d} failed logins"))
def failed_logins_logged(drill: ScenarioDrill, fault: dict[str, Any], count: int) -> None:
    since = (parse_utc(str(fault["injected_at"])) or time.time()) - 1.0
    member = str(fault["target"])

    def counted() -> tuple[bool, int]:
        n = sum(1 for r in drill.platform.audit_log(since)
                if r.member == member and "password authentication failed" in r.line)
        return n >= count, n

    try:
        n = wait_until(counted, 10.0, f"{count} failed logins in {member}'s log", interval=0.5)
    except WaitTimeout:
        n = counted()[1]
    record(drill, FAILED_LOGINS, [finding(fault.get("refused") == count, f"{fault.get('refused')} of {count} "
                                          f"logins with a wrong password refused by {member}"),
                                  finding(n >= count, f"{n} 'password authentication failed' lines in {member}'s log")])


def _trim(line: str, limit: int = 240) -> str:
    return line if len(line) <= limit else line[: limit - 3] + "..."


# ----- network policy -------------------------------------------------------------------------------------
@then("connections from an address outside the allowed ones are refused")
def outsiders_refused(drill: ScenarioDrill) -> None:
    attempts = drill.platform.connect_from_outside()
    record(drill, NETWORK_POLICY, [finding(a.refused, f"from {a.source} to {a.target}: {a.said}") for a in attempts]
           or [finding(False, "no connection was tried")])


# ----- least privilege and passwords -------------------------------------------------------------------------
@then("the application role holds no privilege beyond its own data")
def app_role_minimal(drill: ScenarioDrill) -> None:
    app = drill.settings.app_user
    roles = {r.name: r for r in drill.platform.login_roles()}
    findings = []
    role = roles.get(app)
    if role is None:
        findings.append(finding(False, f"no login role {app}"))
    else:
        extra = [a for a in ("superuser", "createrole", "createdb", "replication", "bypassrls") if getattr(role, a)]
        held = ", ".join(extra) if extra else "no superuser, createrole, createdb, replication or bypassrls"
        findings.append(finding(not extra, f"{app}: {held}"))
    with own_refused_logins(drill, "a replication connection tried as the application"):
        findings += _tried_as_app(drill)
    findings += _redis_admin_refused(drill)
    record(drill, LEAST_PRIVILEGE, findings)


def _tried_as_app(drill: ScenarioDrill) -> list[str]:
    kwargs = drill.platform.postgres_connect_kwargs()
    out = []
    with psycopg.connect(**kwargs, autocommit=True, connect_timeout=10) as conn:
        for what, statement in (("create a role", "CREATE ROLE wd_escalation_probe"),
                                ("create a database", "CREATE DATABASE wd_escalation_probe"),
                                (f"read {RESTRICTED}", f"SELECT count(*) FROM {RESTRICTED}")):
            try:
                conn.execute(statement)
                out.append(finding(False, f"the application role could {what}"))
            except errors.InsufficientPrivilege as exc:
                out.append(finding(True, f"{what}: refused ({str(exc).strip().splitlines()[0]})"))
    try:
        with psycopg.connect(str(kwargs["conninfo"]) + " replication=database", password=kwargs["password"],
                             connect_timeout=10):
            out.append(finding(False, "the application role opened a replication connection"))
    except psycopg.OperationalError as exc:
        out.append(finding(True, f"replication connection: refused ({str(exc).strip().splitlines()[-1]})"))
    return out


def _redis_admin_refused(drill: ScenarioDrill) -> list[str]:
    import redis

    out = []
    with _redis(drill) as client:
        node = client.get_primaries()[0]
        for command in REDIS_ADMIN_COMMANDS:
            try:
                client.execute_command(*command, target_nodes=node)
                out.append(finding(False, f"Redis: the application's user ran {' '.join(command)}"))
            except redis.exceptions.NoPermissionError as exc:
                out.append(finding(True, f"Redis {command[0]}: refused ({str(exc)[:90]})"))
            except redis.RedisError as exc:
                out.append(finding(False, f"Redis {command[0]}: {type(exc).__name__}: {str(exc)[:90]} (not a refusal)"))
    return out


@then("every login role's password is a SCRAM-SHA-256 verifier and an md5 password is refused")
def passwords_strong(drill: ScenarioDrill) -> None:
    findings = [finding(r.password == "SCRAM-SHA-256", f"role {r.name}: {r.password}")
                for r in drill.platform.login_roles()]
    with own_refused_logins(drill, "a login with an md5 password"):
        refused, said = drill.platform.md5_login()
    findings.append(finding(refused, f"a role with an md5 password, with the right password: {said}"))
    record(drill, PASSWORDS, findings)
