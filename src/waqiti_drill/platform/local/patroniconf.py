"""One member's Patroni configuration (pure): the spec's PostgreSQL parameters, TLS everywhere.

Cluster-wide settings sit under bootstrap.dcs, per-member ones below. The control plane is mutual TLS:
Patroni reaches etcd over https with the client certificate; its REST API serves https only and
requires a client certificate of the stack's CA on every request (`verify_client: required`), with
basic auth on top for the unsafe methods (switchover, restart, config changes). Patroni's own calls to
the other members' REST APIs (failover asks each one's /patroni) present the certificate in its `ctl`
section (patroni/request.py takes `ctl.certfile`, never `restapi.certfile`, and with no client
certificate would connect without one, which `verify_client: required` refuses).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from waqiti_drill.config import Settings
from waqiti_drill.platform.local.layout import MemberLocation
from waqiti_drill.platform.local.netplan import plan_network
from waqiti_drill.platform.local.tls import TlsFiles
from waqiti_drill.secrets import Secrets

PG_BIN = Path("/usr/lib/postgresql/15/bin")
REST_USER = "drill"
# OpenSSL names for Patroni's REST API (Python's ssl server; Patroni has no minimum-version setting):
# TLS 1.2's ECDHE with AES-GCM or ChaCha20-Poly1305 only. Debian's OpenSSL 3 at security level 2 already
# fails a TLS 1.1 handshake (measured: "internal error"), but with no TLS 1.0/1.1 suite left the floor is
# ours, whatever the distribution's policy. TLS 1.3's suites are configured apart and stay OpenSSL's.
REST_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"

# The spec's "Configuration Details" and "Performance Tuning", applied cluster-wide through the DCS.
SPEC_PARAMETERS: dict[str, str | int | float] = {
    "max_connections": 200,
    "shared_buffers": "256MB",
    "effective_cache_size": "1GB",
    "work_mem": "4MB",
    "maintenance_work_mem": "64MB",
    "log_min_duration_statement": 1000,
    "random_page_cost": 1.1,
    "effective_io_concurrency": 200,
    "checkpoint_completion_target": 0.9,
    "wal_buffers": "16MB",
}


# The spec's "audit logging of all database operations": pgaudit logs every statement class (read, write,
# function, role, ddl, misc) of every session. Not the catalog queries (the exporters' pg_stat_* reads every
# few seconds would drown the log), nor the statements' parameters (values may be card data; the statement
# text says what was done). Connections and disconnections are logged too, and every failed login is logged
# by PostgreSQL anyway. The log's timestamps are UTC, which the harness reads back (auditlog.py).
AUDIT_PARAMETERS: dict[str, str] = {
    "shared_preload_libraries": "pgaudit",
    "pgaudit.log": "all",
    "pgaudit.log_catalog": "off",
    "pgaudit.log_parameter": "off",
    "pgaudit.log_relation": "off",
    "log_connections": "on",
    "log_disconnections": "on",
    "log_timezone": "UTC",
}
PGAUDIT_LIBRARY = Path("/usr/lib/postgresql/15/lib/pgaudit.so")


def render_patroni_config(
    settings: Settings,
    member: MemberLocation,
    secrets: Secrets,
    tls: TlsFiles,
    archive_command: str,
    log_dir: Path,
    bootstrap_restore: str | None = None,
) -> str:
    """One member's Patroni YAML.

    The member listens on its own address (its namespace's in `netns` mode) and reaches etcd at the
    host's address as members see it. pg_hba admits, over TLS only, the members (replication,
    pg_rewind) and the host side (HAProxy, the harness) by exact address.
    """
    plan = plan_network(settings)
    config: dict[str, Any] = {
        "scope": settings.scope,
        "name": member.name,
        "log": {"level": "INFO"},
        "restapi": _restapi(member, secrets, tls),
        "ctl": {"certfile": str(tls.client_cert), "keyfile": str(tls.client_key), "cacert": str(tls.ca_cert)},
        "etcd3": {"hosts": [f"{plan.host_address}:{settings.ports.etcd_client}"], "protocol": "https",
                  "cacert": str(tls.ca_cert), "cert": str(tls.client_cert), "key": str(tls.client_key)},
        "bootstrap": _bootstrap(),
        "postgresql": _postgresql(member, secrets, tls, archive_command, log_dir, plan.addresses()),
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }
    if bootstrap_restore:
        # pgbackrest restore leaves recovery.signal and restore_command in place: keep them, so the
        # restored member replays every archived WAL segment and promotes when the archive runs out.
        config["bootstrap"]["method"] = "pgbackrest"
        config["bootstrap"]["pgbackrest"] = {"command": bootstrap_restore, "keep_existing_recovery_conf": True,
                                             "no_params": True}
    return yaml.safe_dump(config, sort_keys=False)


def _restapi(member: MemberLocation, secrets: Secrets, tls: TlsFiles) -> dict[str, Any]:
    address = f"{member.host}:{member.rest_port}"
    return {
        "listen": address,
        "connect_address": address,
        "certfile": str(tls.cert),
        "keyfile": str(tls.key),
        "cafile": str(tls.ca_cert),
        "verify_client": "required",
        "ciphers": REST_CIPHERS,
        "authentication": {"username": REST_USER, "password": secrets.patroni_rest_password},
    }


def _bootstrap() -> dict[str, Any]:
    return {
        "dcs": {
            # Patroni's floor is ttl 20; loop_wait + 2 * retry_timeout must stay <= ttl.
            "ttl": 20,
            "loop_wait": 1,
            "retry_timeout": 4,
            "maximum_lag_on_failover": 1048576,
            "synchronous_mode": True,
            "synchronous_mode_strict": True,
            "synchronous_node_count": 1,
            "postgresql": {
                "use_pg_rewind": True,
                "use_slots": True,
                "parameters": {
                    **SPEC_PARAMETERS,
                    "wal_level": "replica",
                    "hot_standby": "on",
                    "wal_log_hints": "on",
                    "max_wal_senders": 10,
                    "max_replication_slots": 10,
                    "wal_keep_size": "256MB",
                    "archive_mode": "on",
                    "archive_timeout": 60,
                    "password_encryption": "scram-sha-256",
                },
            },
        },
        "initdb": [{"encoding": "UTF8"}, "data-checksums", {"auth-local": "scram-sha-256"},
                   {"auth-host": "scram-sha-256"}],
    }


def _postgresql(member: MemberLocation, secrets: Secrets, tls: TlsFiles, archive_command: str, log_dir: Path,
                peers: list[str]) -> dict[str, Any]:
    ssl_client = {"sslmode": "verify-full", "sslrootcert": str(tls.ca_cert)}
    return {
        "listen": f"{member.host}:{member.port}",
        "connect_address": f"{member.host}:{member.port}",
        "data_dir": str(member.data_dir),
        "bin_dir": str(PG_BIN),
        "pgpass": str(member.base / "pgpass.patroni"),
        "use_unix_socket": True,
        "authentication": {
            "superuser": {"username": "postgres", "password": secrets.superuser_password, **ssl_client},
            "replication": {"username": "replicator", "password": secrets.replication_password, **ssl_client},
            "rewind": {"username": "rewind_user", "password": secrets.rewind_password, **ssl_client},
        },
        "parameters": {
            "unix_socket_directories": str(member.socket_dir),
            "ssl": "on",
            "ssl_cert_file": str(tls.cert),
            "ssl_key_file": str(tls.key),
            "ssl_ca_file": str(tls.ca_cert),
            "ssl_min_protocol_version": "TLSv1.2",
            "archive_command": archive_command,
            "logging_collector": "on",
            "log_directory": str(log_dir),
            "log_filename": "postgresql-%a.log",
            "log_line_prefix": "%m [%p] %q%u@%d ",
            **AUDIT_PARAMETERS,
        },
        # hostssl only: a plain TCP connection finds no entry and is refused.
        "pg_hba": [
            "local all all scram-sha-256",
            *(f"hostssl replication replicator {a}/32 scram-sha-256" for a in peers),
            *(f"hostssl all all {a}/32 scram-sha-256" for a in peers),
        ],
        "basebackup": [{"checkpoint": "fast"}],
    }
