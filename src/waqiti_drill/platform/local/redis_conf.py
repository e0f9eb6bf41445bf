"""One Redis node's redis.conf: the spec's persistence and memory settings, cluster mode, TLS only, ACL users.

TLS only: `port 0` closes the plaintext port, `tls-port` serves clients on the node's configured port,
and the cluster bus (`tls-cluster`) and replication (`tls-replication`) run over TLS too, TLS 1.2 and 1.3
only, with the stack's own CA and server certificate (platform/local/tls.py).

`tls-auth-clients no`: clients are not asked for a certificate on the client port. They authenticate
with ACL passwords (redis_acl.py), as PostgreSQL's clients do with SCRAM over `hostssl`; client
certificates would have to be handed to the application, redis_exporter, redis-cli and HAProxy's checks
for no gain over a password the server verifies. It does not open the cluster bus: with `tls-cluster
yes`, Redis 7.0 always demands a certificate from a node connecting to the bus, whatever this setting
says (checked here: a bus connection without one gets TLS alert 116, "certificate required", and one
whose certificate lacks clientAuth is refused too). That matters because the bus has no password of
its own: anyone who can speak to it can rewrite the slot map. So every node presents
`tls-client-cert-file` (the stack's client certificate, clientAuth, signed by the same CA) when it
connects to another's bus, and a peer without a certificate from this CA is refused. Replicas connect
to their master's client port, present it too, and authenticate with masteruser/masterauth.
"""

from __future__ import annotations

from pathlib import Path

from waqiti_drill.platform.local.redis_acl import REPLICATION_USER, acl_lines, password
from waqiti_drill.platform.local.tls import TlsFiles
from waqiti_drill.secrets import Secrets

TLS_PROTOCOLS = "TLSv1.2 TLSv1.3"


def quote(value: str) -> str:
    """Double-quote a config value the way redis' sdssplitargs reads it, so any password or path survives."""
    out: list[str] = []
    for ch in value:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch.isascii() and ch.isprintable():
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode())
    return '"' + "".join(out) + '"'


def tls_lines(port: int, tls: TlsFiles) -> list[str]:
    """No plaintext port; clients, the cluster bus and replication over TLS 1.2+ (see the module's doc)."""
    return [
        "port 0",
        f"tls-port {port}",
        f"tls-cert-file {quote(str(tls.cert))}",
        f"tls-key-file {quote(str(tls.key))}",
        f"tls-client-cert-file {quote(str(tls.client_cert))}",
        f"tls-client-key-file {quote(str(tls.client_key))}",
        f"tls-ca-cert-file {quote(str(tls.ca_cert))}",
        "tls-auth-clients no",
        "tls-cluster yes",
        "tls-replication yes",
        f"tls-protocols {quote(TLS_PROTOCOLS)}",
    ]


def render_conf(host: str, port: int, bus_port: int, node_dir: Path, secrets: Secrets, tls: TlsFiles) -> str:
    """One node's redis.conf (written mode 600: masterauth is a plaintext password)."""
    lines = [
        f"bind {host}",
        "protected-mode yes",
        *tls_lines(port, tls),
        f"cluster-port {bus_port}",
        "daemonize no",
        'logfile ""',
        f"dir {quote(str(node_dir))}",
        "tcp-keepalive 300",
        "timeout 0",
        "cluster-enabled yes",
        "cluster-config-file nodes.conf",
        "cluster-node-timeout 5000",
        "appendonly yes",
        "appendfsync everysec",
        "save 3600 1 300 100 60 10000",
        "maxmemory 1gb",
        "maxmemory-policy allkeys-lru",
        *acl_lines(secrets),
        f"masterauth {quote(password(secrets, REPLICATION_USER))}",
    ]
    return "\n".join(lines) + "\n"
