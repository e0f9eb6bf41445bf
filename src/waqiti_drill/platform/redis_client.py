"""redis-py connection arguments from a platform's RedisClientSettings, shared by every Redis client the
harness makes (the workload's cluster client, the final read, the local platform's own node clients), so
all of them verify the server the same way.

Verification is strict: the certificate chain against the given CA and the host name (an IP address is
matched against the certificate's IP SANs), never TLS below the settings' minimum. A client that cannot
verify fails to connect; nothing falls back to plaintext.

redis-py's cluster client keeps only the keyword arguments it knows (redis.cluster.REDIS_ALLOWED_KEYS), which
leave out `ssl_min_version`: its connections offer what Python's default allows (TLS 1.2 and up here) and
the nodes refuse anything below TLS 1.2 themselves. It also loads the system's trust store beside the CA
(redis-py's own SSL context); the harness's node clients pin the CA alone (PinnedCaConnection).
"""

from __future__ import annotations

import os
import socket
import ssl
from functools import lru_cache

from redis.connection import SSLConnection

from waqiti_drill.errors import InvalidConfig
from waqiti_drill.platform.base import RedisClientSettings

TLS_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


def redis_py_kwargs(settings: RedisClientSettings, password: str) -> dict[str, object]:
    """Keyword arguments for redis.Redis / redis.cluster.RedisCluster: credentials and transport."""
    out: dict[str, object] = {"username": settings.username or None, "password": password}
    if not settings.tls:
        return out
    if settings.min_tls_version not in TLS_VERSIONS:
        raise InvalidConfig(f"unknown minimum TLS version '{settings.min_tls_version}'; "
                            f"valid: {', '.join(TLS_VERSIONS)}")
    out.update(
        ssl=True,
        ssl_ca_certs=settings.ca_file or None,  # None: the system's trust store
        ssl_cert_reqs="required",
        ssl_check_hostname=True,
        ssl_min_version=TLS_VERSIONS[settings.min_tls_version],
    )
    return out


class PinnedCaConnection(SSLConnection):
    """redis-py's SSLConnection with one TLS context per CA file, trusting that CA alone.

    redis-py builds a fresh `ssl.create_default_context()` for every connection, which loads the system's
    whole trust store beside the CA given: about 35 ms of CPU per connection on this machine, so a Redis
    restore of 1,400 one-command connections spent 60 s in it, and every public CA would be trusted too.
    The harness's node clients (one connection per command) use this class instead. Should a later
    redis-py stop calling `_wrap_socket_with_ssl`, the default path runs: slower, still verified."""

    def _wrap_socket_with_ssl(self, sock: socket.socket) -> ssl.SSLSocket:
        if not self.ca_certs:
            return super()._wrap_socket_with_ssl(sock)  # type: ignore[no-any-return]
        ctx = pinned_context(str(self.ca_certs), os.stat(self.ca_certs).st_mtime_ns,
                             self.ssl_min_version or ssl.TLSVersion.TLSv1_2)
        return ctx.wrap_socket(sock, server_hostname=self.host)


@lru_cache(maxsize=16)
def pinned_context(ca_file: str, stamp: int, min_version: ssl.TLSVersion) -> ssl.SSLContext:
    """Chain and host name verified against `ca_file` only; keyed by the file's mtime, so a recreated CA
    (a purged and rebuilt stack in the same process) gets a new context."""
    del stamp
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname by default
    ctx.minimum_version = min_version
    ctx.load_verify_locations(cafile=ca_file)
    return ctx
