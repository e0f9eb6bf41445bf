"""The Security capability of the local stack: its promises, read from what runs (mixed into LocalPlatform).

Every answer comes from the running system: endpoints are probed by the caller, roles are read from the
catalog, audit lines from the servers' own logs, the network policy is tried from a namespace outside it.
"""

from __future__ import annotations

import hashlib
import os
import secrets as _random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from waqiti_drill.errors import Unsupported
from waqiti_drill.platform.base import (
    AuditRecord,
    EncryptedVolume,
    LoginRole,
    NetworkAttempt,
    RawScan,
    SecuredEndpoint,
    TlsTrust,
)
from waqiti_drill.platform.local import atrest
from waqiti_drill.platform.local.auditlog import lines_since
from waqiti_drill.platform.local.layout import members
from waqiti_drill.platform.local.outsider import Outsider, Target
from waqiti_drill.platform.local.pgroles import superuser_connect
from waqiti_drill.platform.local.redis_cluster import RedisCluster

if TYPE_CHECKING:
    from waqiti_drill.config import Settings
    from waqiti_drill.platform.local.context import LocalContext
    from waqiti_drill.platform.local.patroni import PatroniCluster

MD5_PROBE_ROLE = "wd_md5_probe"
# Lines of a server log that record an operation or a login: pgaudit's, and the connection log's.
AUDIT_MARKERS = ("AUDIT: ", "connection authorized", "authentication failed", "no pg_hba.conf entry",
                 "connection received")


class LocalSecurity:
    settings: Settings
    context: Callable[..., LocalContext]
    _parts: Callable[..., tuple]

    # ----- TLS -------------------------------------------------------------------------------------
    def secured_endpoints(self) -> list[SecuredEndpoint]:
        """Every endpoint that carries data or control: the global endpoint and the region's HAProxy, each
        member's PostgreSQL and Patroni REST API, each Redis node, etcd and the object stores."""
        ctx = self.context()
        p, host = self.settings.ports, self.settings.host
        out = [SecuredEndpoint("postgres rw (global endpoint)", host, p.endpoint_rw, "postgres", False),
               SecuredEndpoint("postgres ro (global endpoint)", host, p.endpoint_ro, "postgres", False),
               SecuredEndpoint("redis (global endpoint)", host, p.endpoint_redis, "redis", False),
               SecuredEndpoint("postgres rw (HAProxy)", host, p.haproxy_rw, "postgres", False),
               SecuredEndpoint("postgres ro (HAProxy)", host, p.haproxy_ro, "postgres", False)]
        for m in members(self.settings):
            out.append(SecuredEndpoint(f"postgres {m.name}", m.host, m.port, "postgres", False))
            out.append(SecuredEndpoint(f"patroni {m.name}", m.host, m.rest_port, "http", self._mtls()))
        redis = RedisCluster(ctx)
        out += [SecuredEndpoint("redis node", *_split(a), "redis", False) for a in redis.addresses()]
        # The cluster bus has no password: a node must present a certificate of the stack's CA to join it.
        out += [SecuredEndpoint("redis bus", host, bus, "redis", True)
                for a in redis.addresses() for host, bus in [(_split(a)[0], redis.bus_port(a))]]
        out.append(SecuredEndpoint("etcd", host, p.etcd_client, "http", self._mtls()))
        if ctx.dcs_host != host:
            out.append(SecuredEndpoint("etcd (members' address)", ctx.dcs_host, p.etcd_client, "http", self._mtls()))
        out.append(SecuredEndpoint("s3", host, p.s3, "http", False))
        if self.settings.region.enabled:
            out.append(SecuredEndpoint(f"s3 ({self.settings.region.backup})", host, p.dr_s3, "http", False))
        return out

    def plaintext_endpoints(self) -> list[str]:
        """Plain-text listeners by design, each bound to 127.0.0.1 only and carrying no application data."""
        p = self.settings.ports
        names = [f"HAProxy statistics page :{p.haproxy_stats}", f"Prometheus :{p.prometheus}",
                 f"Alertmanager :{p.alertmanager}", f"Pushgateway :{p.pushgateway}",
                 f"alert receiver :{p.alert_webhook}", f"failed-login counter :{p.logwatch}",
                 "exporters :" + ",".join(str(x) for x in (*p.postgres_exporter, *p.redis_exporter, p.node_exporter)),
                 f"SeaweedFS master, volume and filer (behind its S3 gateway) :{p.weed_master}-{p.weed_filer_grpc}"]
        return [f"{n} (127.0.0.1 only)" for n in names]

    def tls_trust(self) -> TlsTrust:
        tls = self.context().tls
        cert, key = getattr(tls, "client_cert", None), getattr(tls, "client_key", None)
        return TlsTrust(ca_file=str(tls.ca_cert), client_cert=str(cert) if cert else None,
                        client_key=str(key) if key else None)

    def _mtls(self) -> bool:
        return self.tls_trust().client_cert is not None

    # ----- audit log ---------------------------------------------------------------------------------
    def audit_log(self, since: float) -> list[AuditRecord]:
        out = []
        for m in members(self.settings):
            log_dir = self.context().state_dir / "logs" / m.name
            out += [AuditRecord(member=m.name, line=line) for line in lines_since(log_dir, since)
                    if any(marker in line for marker in AUDIT_MARKERS)]
        return out

    # ----- roles and passwords -------------------------------------------------------------------------
    def _primary(self):  # noqa: ANN202 - a MemberLocation
        patroni: PatroniCluster = self._parts()[1]
        return patroni.primary()

    def login_roles(self) -> list[LoginRole]:
        query = ("SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, "
                 "CASE WHEN rolpassword IS NULL THEN 'none' WHEN rolpassword LIKE 'SCRAM-SHA-256$%' THEN "
                 "'SCRAM-SHA-256' WHEN rolpassword ~ '^md5[0-9a-f]{32}$' THEN 'md5' ELSE 'plain' END "
                 "FROM pg_authid WHERE rolcanlogin ORDER BY rolname")
        with superuser_connect(self.context(), self._primary()) as conn:
            rows = conn.execute(query).fetchall()
        return [LoginRole(name=r[0], superuser=r[1], createrole=r[2], createdb=r[3], replication=r[4],
                          bypassrls=r[5], password=r[6]) for r in rows]

    def md5_login(self) -> tuple[bool, str]:
        """A throwaway role whose password is stored as an md5 hash (computed here, so no password is ever in a
        statement or a log) logs in through the read-write endpoint with the right password; the role is
        dropped again whatever happens."""
        password = _random.token_urlsafe(24)
        stored = "md5" + hashlib.md5((password + MD5_PROBE_ROLE).encode()).hexdigest()  # noqa: S324 - the point
        primary = self._primary()
        ctx = self.context()
        role = sql.Identifier(MD5_PROBE_ROLE)
        with superuser_connect(ctx, primary) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(role, sql.Literal(stored)))
        try:
            kwargs = self.endpoints().connect_kwargs()  # type: ignore[attr-defined]
            conninfo = str(kwargs["conninfo"]).replace(f"user={self.settings.app_user}", f"user={MD5_PROBE_ROLE}")
            try:
                with psycopg.connect(conninfo, password=password, connect_timeout=5):
                    return False, "logged in with an md5-hashed password"
            except psycopg.OperationalError as exc:
                said = str(exc).strip().splitlines()[-1]
                return "password authentication failed" in said, said
        finally:
            with superuser_connect(ctx, self._primary()) as conn:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))

    # ----- network policy --------------------------------------------------------------------------------
    def connect_from_outside(self) -> list[NetworkAttempt]:
        """From `.250` on the members' bridge: each member's PostgreSQL and REST API must refuse the
        connection; etcd, which the members reach on the same bridge, must refuse a client without a client
        certificate; the object store's pass-through must drop it (HAProxy's source ACL)."""
        ctx = self.context()
        net = ctx.net
        if not net.isolated:
            raise Unsupported("the network-policy check needs the members in network namespaces (root, "
                              "network = \"auto\" or \"netns\")")
        p = self.settings.ports
        targets = [Target(f"{kind} {m.name}", m.host, port, "tcp")
                   for m in members(self.settings) for kind, port in (("postgres", m.port), ("patroni", m.rest_port))]
        targets.append(Target("s3 pass-through", net.host_address, p.s3, "tcp"))
        targets.append(Target("etcd", net.host_address, p.etcd_client, "mtls" if self._mtls() else "tcp"))
        with Outsider(net) as outsider:
            seen = outsider.probe(targets, str(ctx.tls.ca_cert))
            source = outsider.address
        return [NetworkAttempt(target=s["target"], source=source, refused=bool(s["refused"]), said=str(s["said"]))
                for s in seen]

    # ----- at rest ------------------------------------------------------------------------------------------
    def _active_settings(self) -> Settings:
        """The settings of the region the platform runs in (the backup region's once failed over)."""
        return self._parts()[0].ctx.settings

    def encrypted_volumes(self) -> list[EncryptedVolume]:
        out = []
        for v in atrest.view(self._active_settings()):
            out.append(EncryptedVolume(name=v.name, holds=HOLDS.get(v.name, f"PGDATA and pg_wal of {v.name}"),
                                       device=v.image or "(no image: not root)", mount=v.mount_point,
                                       encrypted_dirs=[d.path for d in v.directories if d.aes256],
                                       policy=_policy(v), key_present=v.key_status == "present"))
        return out

    def scan_volumes(self, needle: bytes) -> list[RawScan]:
        return [RawScan(volume=s.volume, device=s.image, bytes_scanned=s.bytes_scanned, found=s.found)
                for s in atrest.scan_raw(self._active_settings(), needle)]

    def plant_unencrypted(self, needle: bytes) -> list[str]:
        return atrest.write_control(self._active_settings(), needle)

    def flush_to_disk(self) -> None:
        """What was written is on the disks: a checkpoint on every member, an RDB save on every Redis node
        (its AOF is fsynced every second anyway), then the kernel's caches written out."""
        ctx = self.context()
        for m in members(self.settings):
            with superuser_connect(ctx, m) as conn:
                conn.execute("CHECKPOINT")
        redis = RedisCluster(ctx)
        for address in redis.addresses():
            redis.command(address, "SAVE")
        time.sleep(1.1)  # appendfsync everysec: the last second of the AOF
        os.sync()


HOLDS = {"redis": "every Redis node's AOF, RDB and nodes.conf", "restore": "the restored copy's PGDATA"}


def _policy(v: atrest.VolumeAtRest) -> str:
    """The policy every data directory has, or how many have none (which is not AES-256 at rest)."""
    dirs = v.directories
    if dirs and all(d.aes256 for d in dirs):
        return "fscrypt v2, contents AES-256-XTS, filenames AES-256-CTS"
    plain = [d for d in dirs if not d.aes256]
    return "none" if len(plain) == len(dirs) else f"{len(plain)} of {len(dirs)} data directories without AES-256"


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)
