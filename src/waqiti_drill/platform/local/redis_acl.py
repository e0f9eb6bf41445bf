"""The Redis ACL users of the embedded stack: who may do what, as rendered into every node's redis.conf.

    default              the application (DRILL_REDIS_PASSWORD). Every key and channel, every command but
                         the @dangerous ones (FLUSHALL, FLUSHDB, KEYS, CONFIG, DEBUG, SHUTDOWN, ACL changes,
                         MONITOR, CLUSTER's topology changes, INFO, ...). redis-py's cluster client needs
                         only CLUSTER SLOTS / CLUSTER INFO / COMMAND beside the data commands, and none of
                         them is @dangerous. It stays the `default` user so a client that sends only a
                         password (AUTH <password>, what most application configs hold) authenticates as it.
    waqiti_admin         the harness's own cluster management: redis-cli --cluster create/reshard/rebalance/
                         fix/add-node/del-node, CLUSTER MEET/RESET/FORGET, CONFIG SET, CLIENT PAUSE, and
                         the RDB stream of the backup job. Everything.
    waqiti_replication   replicas authenticating to whichever master they follow (masteruser/masterauth):
                         PSYNC, REPLCONF and PING only, no key, no channel.
    waqiti_monitor       redis_exporter: what it reads and nothing else. Not CONFIG GET (it would hand the
                         exporter masterauth in plain text) and not SLOWLOG GET (it shows command arguments,
                         i.e. data); the exporter reports redis_up and the cluster metrics without them.

Each password is in redis.conf only as `#<sha256 hex>` (Redis compares SHA-256 digests), so the file does
not reveal them; `masterauth` is the exception (it is what the replica sends), which is why the file stays
mode 600. Every rule list starts with `reset`: the default user begins life as `on nopass +@all`, and a
`user` directive only adds to what a user has.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from waqiti_drill.errors import InvalidConfig
from waqiti_drill.platform.base import RedisAclUser
from waqiti_drill.secrets import Secrets

APP_USER = "default"
ADMIN_USER = "waqiti_admin"
REPLICATION_USER = "waqiti_replication"
MONITOR_USER = "waqiti_monitor"


@dataclass(frozen=True)
class AclUser:
    name: str
    secret: str  # the Secrets field that holds its password
    rules: str  # what it may touch and run, after `reset on #<hash>`


USERS: tuple[AclUser, ...] = (
    # In Redis 7.0 every @admin command is also @dangerous; -@admin is kept explicit for later versions.
    AclUser(APP_USER, "redis_password", "~* &* +@all -@dangerous -@admin"),
    AclUser(ADMIN_USER, "redis_admin_password", "~* &* +@all"),
    AclUser(REPLICATION_USER, "redis_replication_password", "resetkeys resetchannels -@all +psync +replconf +ping"),
    AclUser(MONITOR_USER, "redis_monitor_password",
            "resetkeys resetchannels -@all +ping +info +cluster|info +client|setname +slowlog|len +latency|latest"),
)


def user(name: str) -> AclUser:
    for found in USERS:
        if found.name == name:
            return found
    raise InvalidConfig(f"unknown Redis ACL user '{name}'; valid: {', '.join(u.name for u in USERS)}")


def password(secrets: Secrets, name: str) -> str:
    """The user's password from the secrets; an empty one is refused (it would hash to a valid login)."""
    found = user(name)
    value = str(getattr(secrets, found.secret))
    if not value:
        raise InvalidConfig(f"the Redis ACL user {name} has no password ({found.secret} is empty)")
    return value


def password_hash(value: str) -> str:
    """What redis.conf holds instead of the password: Redis's own `#<sha256 hex>` form."""
    return hashlib.sha256(value.encode()).hexdigest()


def acl_lines(secrets: Secrets) -> list[str]:
    """The `user` directives of every node, then how a replica authenticates to its master."""
    lines = [f"user {u.name} reset on #{password_hash(password(secrets, u.name))} {u.rules}" for u in USERS]
    return [*lines, f"masteruser {REPLICATION_USER}"]


def describe_user(name: str, reply: dict[str, object] | list[object]) -> RedisAclUser:
    """ACL GETUSER's reply as a RedisAclUser, the digests dropped. redis-py parses it into a dict; the raw
    RESP2 reply (a flat key/value list) is read too."""
    pairs = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2], strict=True)
    fields = {str(k): v for k, v in pairs}
    flags = [str(f) for f in fields.get("flags", []) or []]  # type: ignore[union-attr]
    digests = fields.get("passwords") or []
    held = "nopass" if "nopass" in flags else "sha-256" if digests else "none"
    return RedisAclUser(name=name, enabled="on" in flags, password=held, keys=str(fields.get("keys") or ""),
                        channels=str(fields.get("channels") or ""),
                        commands=canonical_commands(str(fields.get("commands") or "")))


def canonical_commands(rules: str) -> str:
    """Redis describes a user's commands in its own internal order ("-@all +ping +replconf +psync"); runs
    of single commands with the same sign commute, so they are sorted to make the text comparable."""
    out: list[str] = []
    run: list[str] = []
    for token in [*rules.split(), ""]:
        single = token[:1] in "+-" and "@" not in token and token != ""
        if run and (not single or token[0] != run[0][0]):
            out += sorted(run)
            run = []
        if single:
            run.append(token)
        elif token:
            out.append(token)
    return " ".join(out)
