"""How the embedded stack's own code reaches a Redis node: over TLS, verified against the stack's CA, as
the ACL user that fits the job (redis_acl.py). One place, so redis_cluster, redis_scale, redis_backup,
the conformance readers and the region code cannot drift apart.

The harness manages the cluster as `waqiti_admin`; the application (the workload, the final read)
connects as the default user through Platform.redis_client_settings(). Passwords go to redis-py in the
client object and to redis-cli in REDISCLI_AUTH, never in argv (every local user can read /proc).
"""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from waqiti_drill.platform.base import RedisClientSettings
from waqiti_drill.platform.local.context import LocalContext
from waqiti_drill.platform.local.redis_acl import ADMIN_USER, APP_USER, password
from waqiti_drill.platform.redis_client import PinnedCaConnection, redis_py_kwargs


def client_settings(ctx: LocalContext, name: str = APP_USER) -> RedisClientSettings:
    return RedisClientSettings(tls=True, ca_file=str(ctx.tls.ca_cert), username=name)


def node_client(ctx: LocalContext, port: int, name: str = ADMIN_USER, timeout: float = 2.0) -> redis.Redis:
    """A client for one node, without redis-py's silent retries (drills measure outages), whose TLS context
    is built once and trusts the stack's CA alone (PinnedCaConnection)."""
    kwargs = redis_py_kwargs(client_settings(ctx, name), password(ctx.secrets, name))
    del kwargs["ssl"]  # the pool is given the connection class instead
    pool = redis.ConnectionPool(
        connection_class=PinnedCaConnection,
        host=ctx.host,
        port=port,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        decode_responses=True,
        retry=Retry(NoBackoff(), 0),
        **kwargs,
    )
    return redis.Redis.from_pool(pool)  # closing the client closes its pool


def cli_args(ctx: LocalContext) -> list[str]:
    """redis-cli's connection options: TLS with the CA, as the admin user (its password in cli_env)."""
    return ["--tls", "--cacert", str(ctx.tls.ca_cert), "--user", ADMIN_USER]


def cli_env(ctx: LocalContext) -> dict[str, str]:
    return {"REDISCLI_AUTH": password(ctx.secrets, ADMIN_USER)}
