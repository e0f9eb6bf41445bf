"""The exporters: one prometheus-postgres-exporter per member, one prometheus-redis-exporter per Redis
node (the two scale-out spares included), a node exporter for the members' own filesystems, and the
Pushgateway that backup jobs push their outcome to.

How the exporters connect is decided in two functions only (`postgres_exporter_env`,
`redis_exporter_env`), so a change of transport (issue 13 makes Redis TLS-only) is one edit there.
Passwords are never in argv: the exporters read them from mode-600 files owned by the run user
(DATA_SOURCE_PASS_FILE; REDIS_PASSWORD_FILE, a JSON map from address to password). Each connects as a
user that may only read: PostgreSQL's pg_monitor role, Redis's waqiti_monitor ACL user (redis_acl.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from psycopg import sql

from waqiti_drill.platform.local.context import LocalContext, find_binary
from waqiti_drill.platform.local.layout import MemberLocation, members
from waqiti_drill.platform.local.monitoring.render import render_pg_queries
from waqiti_drill.platform.local.monitoring.targets import redis_ports_watched
from waqiti_drill.platform.local.pgroles import scram_verifier, superuser_connect
from waqiti_drill.platform.local.redis_acl import MONITOR_USER, password
from waqiti_drill.platform.local.runas import make_dir, write_file
from waqiti_drill.platform.local.supervisor import ProcessSpec

PG_EXPORTER_PREFIX = "pg-exporter-"
MONITOR_ROLE = "waqiti_monitor"  # LOGIN, member of pg_monitor and nothing else
CONNECT_TIMEOUT_SECONDS = 3  # below the scrape timeout: an unreachable member reads as pg_up 0, not a dead target


@dataclass(frozen=True)
class ExporterFiles:
    base: Path  # <state>/monitoring

    @property
    def secrets_dir(self) -> Path:
        return self.base / "secrets"

    @property
    def pg_password(self) -> Path:
        return self.secrets_dir / "pg-monitor.pass"

    @property
    def redis_passwords(self) -> Path:
        return self.secrets_dir / "redis-passwords.json"

    @property
    def pg_queries(self) -> Path:
        return self.base / "pg-exporter-queries.yml"

    def work_dir(self, name: str) -> Path:
        """Each process's own working directory: how the supervisor finds its process tree."""
        return self.base / name


# ----- how the exporters connect (the one place) ----------------------------------------------------
def postgres_exporter_env(ctx: LocalContext, member: MemberLocation, files: ExporterFiles) -> dict[str, str]:
    """TLS with the server's certificate verified against the stack's CA, as the monitoring role; the
    member at its own address (its namespace's in netns mode), which pg_hba admits from the host side."""
    query = (f"sslmode=verify-full&sslrootcert={ctx.tls.ca_cert}&connect_timeout={CONNECT_TIMEOUT_SECONDS}"
             "&application_name=waqiti-monitor")
    return {
        "DATA_SOURCE_URI": f"{member.host}:{member.port}/postgres?{query}",
        "DATA_SOURCE_USER": MONITOR_ROLE,
        "DATA_SOURCE_PASS_FILE": str(files.pg_password),
        "PG_EXPORTER_EXTEND_QUERY_PATH": str(files.pg_queries),
    }


def redis_address(ctx: LocalContext, port: int) -> str:
    return f"rediss://{ctx.host}:{port}"  # TLS only (redis_conf.py)


def redis_exporter_env(ctx: LocalContext, port: int, files: ExporterFiles) -> dict[str, str]:
    """rediss:// with the server's certificate verified against the stack's CA (Go checks the address
    against the certificate's IP SANs), as the monitoring ACL user. No client certificate: the nodes do
    not ask for one on the client port (tls-auth-clients no)."""
    return {
        "REDIS_ADDR": redis_address(ctx, port),
        "REDIS_USER": MONITOR_USER,
        "REDIS_PASSWORD_FILE": str(files.redis_passwords),
        "REDIS_EXPORTER_TLS_CA_CERT_FILE": str(ctx.tls.ca_cert),
        "REDIS_EXPORTER_CONNECTION_TIMEOUT": f"{CONNECT_TIMEOUT_SECONDS}s",
        "REDIS_EXPORTER_REDIS_ONLY_METRICS": "true",
    }


# ----- files ---------------------------------------------------------------------------------------
def render_exporter_files(ctx: LocalContext, files: ExporterFiles) -> None:
    user = ctx.user
    make_dir(user, files.base, 0o755)
    make_dir(user, files.secrets_dir, 0o700)
    write_file(user, files.pg_password, ctx.secrets.monitor_password + "\n", 0o600)
    monitor = password(ctx.secrets, MONITOR_USER)
    passwords = {redis_address(ctx, port): monitor for port, _ in redis_ports_watched(ctx.settings)}
    write_file(user, files.redis_passwords, json.dumps(passwords), 0o600)
    write_file(user, files.pg_queries, render_pg_queries(), 0o644)


def ensure_monitor_role(ctx: LocalContext, primary: MemberLocation) -> None:
    """The exporters' role: pg_monitor (read every statistics view, pg_ls_archive_statusdir), nothing more.
    The password goes to the server as a SCRAM verifier, as for the application role."""
    with superuser_connect(ctx, primary) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (MONITOR_ROLE,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
            sql.SQL(verb), sql.Identifier(MONITOR_ROLE), sql.Literal(scram_verifier(ctx.secrets.monitor_password))))
        conn.execute(sql.SQL("GRANT pg_monitor TO {}").format(sql.Identifier(MONITOR_ROLE)))


# ----- processes -----------------------------------------------------------------------------------
def exporter_specs(ctx: LocalContext, files: ExporterFiles) -> list[ProcessSpec]:
    """Every exporter's process, each listening on loopback only."""
    host, ports = ctx.host, ctx.settings.ports
    specs = []
    pg_bin = find_binary("prometheus-postgres-exporter", "the Debian package prometheus-postgres-exporter")
    for member, port in zip(members(ctx.settings), ports.postgres_exporter, strict=True):
        name = f"{PG_EXPORTER_PREFIX}{member.name}"
        specs.append(ProcessSpec(name=name, argv=[pg_bin, f"--web.listen-address={host}:{port}", "--log.level=warn"],
                                 cwd=files.work_dir(name), env=postgres_exporter_env(ctx, member, files)))
    redis_bin = find_binary("prometheus-redis-exporter", "the Debian package prometheus-redis-exporter")
    for port, (redis_port, _spare) in zip(ports.redis_exporter, redis_ports_watched(ctx.settings), strict=True):
        name = f"redis-exporter-{redis_port}"
        specs.append(ProcessSpec(name=name, argv=[redis_bin, f"-web.listen-address={host}:{port}"],
                                 cwd=files.work_dir(name), env=redis_exporter_env(ctx, redis_port, files)))
    node_bin = find_binary("prometheus-node-exporter", "the Debian package prometheus-node-exporter")
    specs.append(ProcessSpec(name="node-exporter", cwd=files.work_dir("node-exporter"), argv=[
        node_bin, f"--web.listen-address={host}:{ports.node_exporter}", "--collector.disable-defaults",
        "--collector.filesystem", "--log.level=warn"]))
    push_bin = find_binary("prometheus-pushgateway", "the Debian package prometheus-pushgateway")
    push_dir = files.work_dir("pushgateway")
    specs.append(ProcessSpec(name="pushgateway", cwd=push_dir, argv=[
        push_bin, f"--web.listen-address={host}:{ports.pushgateway}",
        f"--persistence.file={push_dir / 'pushgateway.db'}", "--persistence.interval=5s", "--log.level=warn"]))
    return specs
