"""redis-py connection arguments from a platform's RedisClientSettings, shared by every Redis client the
harness makes (the workload's cluster client, the final read, the local platform's own node clients), so
all of them verify the server the same way.

Verification is strict: the certificate chain against the given CA and the host name (an IP address is
matched against the certificate's IP SANs), never TLS below the settings' minimum. A client that cannot
verify fails to connect; nothing falls back to plaintext.
"""

from __future__ import annotations

import ssl

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
