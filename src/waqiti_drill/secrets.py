"""Secrets: taken from DRILL_* variables when set, otherwise generated once into the state directory.

They flow into connection objects and mode-600 config files only: never argv, DSNs, logs or output.
The values the stack was created with are kept (mode 600) so later commands agree with the servers;
a DRILL_* variable that disagrees with them is refused rather than silently breaking authentication.
"""

from __future__ import annotations

import json
import os
import secrets as _random
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from waqiti_drill.errors import InvalidConfig, StateDirError

# field name -> environment variable that may supply it (None: always generated)
ENV_NAMES: dict[str, str | None] = {
    "postgres_password": "DRILL_POSTGRES_PASSWORD",
    "redis_password": "DRILL_REDIS_PASSWORD",
    "s3_access_key": "DRILL_S3_ACCESS_KEY",
    "s3_secret_key": "DRILL_S3_SECRET_KEY",
    "backup_cipher_pass": "DRILL_BACKUP_CIPHER_PASS",
    "superuser_password": None,
    "replication_password": None,
    "rewind_password": None,
    "patroni_rest_password": None,
    "s3_kek_hex": None,
    "monitor_password": None,
    # the backup region's object store has keys and a KEK of its own
    "dr_s3_access_key": None,
    "dr_s3_secret_key": None,
    "dr_s3_kek_hex": None,
    "redis_backup_key": None,  # AES-256-GCM key of the Redis backups (client-side encryption)
    # Redis ACL users beside the application's (platform/local/redis_acl.py)
    "redis_admin_password": None,
    "redis_replication_password": None,
    "redis_monitor_password": None,
}


@dataclass(frozen=True)
class Secrets:
    postgres_password: str  # the application role (waqiti_user)
    redis_password: str
    s3_access_key: str
    s3_secret_key: str
    backup_cipher_pass: str
    superuser_password: str
    replication_password: str
    rewind_password: str
    patroni_rest_password: str  # guards the Patroni REST API's write endpoints (switchover, restart)
    s3_kek_hex: str  # key-encryption key for the object store's SSE-S3
    dr_s3_access_key: str  # the backup region's object store
    dr_s3_secret_key: str
    dr_s3_kek_hex: str
    redis_backup_key: str  # 64 hex characters: encrypts each RDB before it leaves the harness
    # the exporters' role (waqiti_monitor, pg_monitor); load_secrets always generates it (the default only
    # spares code that builds Secrets by hand from listing it)
    monitor_password: str = ""
    # the Redis ACL users beside the application's (default) user: the harness's cluster management,
    # replicas authenticating to their master, redis_exporter. Generated, as monitor_password is.
    redis_admin_password: str = ""
    redis_replication_password: str = ""
    redis_monitor_password: str = ""

    def for_backup_region(self) -> Secrets:
        """The secrets as the backup region's parts see them: its own store keys in the usual fields."""
        from dataclasses import replace

        return replace(self, s3_access_key=self.dr_s3_access_key, s3_secret_key=self.dr_s3_secret_key,
                       s3_kek_hex=self.dr_s3_kek_hex, dr_s3_access_key=self.s3_access_key,
                       dr_s3_secret_key=self.s3_secret_key, dr_s3_kek_hex=self.s3_kek_hex)

    def values(self) -> list[str]:
        """Every secret value, for redaction scans."""
        return [getattr(self, f.name) for f in fields(self)]

    def __repr__(self) -> str:  # never print secrets by accident
        return "Secrets(<redacted>)"


# The password policy for secrets an operator supplies (PCI DSS 8.3.6 asks for 12 characters with letters and
# digits; we ask 16). Generated ones are 24 random bytes (192 bits, token_urlsafe: 32 characters), keys 256 bits.
PASSWORDS = ("postgres_password", "redis_password", "s3_secret_key", "backup_cipher_pass")
MIN_PASSWORD_LENGTH = 16


def check_strength(env: str, value: str) -> None:
    """A supplied password that is too weak is refused in one line naming the variable (never the value)."""
    if len(value) < MIN_PASSWORD_LENGTH or not any(c.isalpha() for c in value) or not any(c.isdigit() for c in value):
        raise InvalidConfig(f"{env} is too weak: at least {MIN_PASSWORD_LENGTH} characters with letters and digits; "
                            "unset it to have a strong one generated")


def _generate(name: str) -> str:
    if name in ("s3_kek_hex", "dr_s3_kek_hex", "redis_backup_key"):
        return _random.token_hex(32)
    if name in ("s3_access_key", "dr_s3_access_key"):
        return "WQ" + _random.token_hex(9).upper()
    return _random.token_urlsafe(24)


def load_secrets(path: Path, create: bool) -> Secrets:
    """Read the stored secrets (creating them when `create`), then check the environment agrees."""
    stored: dict[str, str] = {}
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise StateDirError(f"{path}: unreadable secrets file ({exc}); run 'drill down --purge'") from None
    elif not create:
        raise StateDirError(f"no stack here: {path} does not exist; run 'drill up' first")
    values: dict[str, str] = {}
    for name, env in ENV_NAMES.items():
        from_env = os.environ.get(env) if env else None
        if from_env is not None and from_env == "":
            raise InvalidConfig(f"{env} is set but empty")
        if name in stored:
            if from_env is not None and from_env != stored[name]:
                raise InvalidConfig(
                    f"{env} differs from the value this stack was created with; "
                    "unset it, or recreate the stack with 'drill down --purge'"
                )
            values[name] = stored[name]
        else:
            if from_env is not None and env is not None and name in PASSWORDS:
                check_strength(env, from_env)
            values[name] = from_env if from_env is not None else _generate(name)
    result = Secrets(**values)
    if values != stored:
        _write_private(path, json.dumps(asdict(result), indent=1))
    return result


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)
