"""The local platform's Conformance readings: the live configuration, read where it is applied.

Mixed into LocalPlatform. Values come from the servers (Patroni's REST API, Redis CONFIG GET and CLUSTER
INFO, the object store's own answers), except the backup schedule and retention, which are read from what
the harness rendered for pgBackRest (nothing runs cron on the embedded stack). Secrets are never returned.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from waqiti_drill.config import Settings
from waqiti_drill.platform.base import BackupPolicyInForce, RedisAclUser, RepositoryEncryption

if TYPE_CHECKING:
    from waqiti_drill.platform.local.context import LocalContext

SECRET_OPTIONS = frozenset({"repo1-cipher-pass", "repo1-s3-key", "repo1-s3-key-secret"})
SECRET_REDIS_SETTINGS = frozenset({"requirepass", "masterauth", "tls-key-file-pass", "tls-client-key-file-pass"})
VERSION = re.compile(r"(\d+\.\d+(?:\.\d+)?)")


class LocalConformance:
    # Provided by LocalPlatform, which this class is mixed into.
    settings: Settings
    context: Callable[..., LocalContext]

    def ha_config(self) -> dict[str, object]:
        """The cluster-wide Patroni configuration (the DCS's), from the first member that answers."""
        from waqiti_drill.platform.local.patroni import PatroniCluster

        return PatroniCluster(self.context()).rest_first("/config")

    def redis_node_config(self, address: str, names: list[str]) -> dict[str, str | None]:
        from waqiti_drill.platform.local.redis_cluster import RedisCluster

        with RedisCluster(self.context()).client(address) as client:
            found: dict[str, str | None] = {}
            for name in names:
                value = client.config_get(name).get(name)
                if name in SECRET_REDIS_SETTINGS:
                    value = "set" if value else "not set"
                found[name] = value
        return found

    def redis_cluster_info(self) -> dict[str, str]:
        from waqiti_drill.platform.local.redis_cluster import RedisCluster, parse_info

        cluster = RedisCluster(self.context())
        last: Exception | None = None
        for address in cluster.addresses():
            try:
                return parse_info(cluster.command(address, "CLUSTER", "INFO"))
            except Exception as exc:  # noqa: BLE001 - the next node may answer
                last = exc
        raise OSError(f"no Redis node answered CLUSTER INFO (last error: {last})")

    def redis_acl_users(self, address: str) -> list[RedisAclUser]:
        """Every ACL user of the node (ACL USERS, then ACL GETUSER each), read as the admin user."""
        from waqiti_drill.platform.local.redis_acl import describe_user
        from waqiti_drill.platform.local.redis_cluster import RedisCluster

        with RedisCluster(self.context()).client(address) as client:
            names = sorted(str(n) for n in client.execute_command("ACL", "USERS"))
            return [describe_user(n, client.execute_command("ACL", "GETUSER", n)) for n in names]

    def redis_acl_dryrun(self, address: str, user: str, command: list[str]) -> str:
        """ACL DRYRUN: the node says whether `user` may run `command`, without running it."""
        from waqiti_drill.platform.local.redis_cluster import RedisCluster

        with RedisCluster(self.context()).client(address) as client:
            answer = str(client.execute_command("ACL", "DRYRUN", user, *command))
        return "" if answer == "OK" else answer

    def repository_encryption(self) -> RepositoryEncryption:
        """Bucket default SSE, and for the repository's backup.info: its SSE header and whether its bytes are
        pgBackRest's own aes-256-cbc ciphertext (such files begin with `Salted__`)."""
        from waqiti_drill.platform.local.objectstore import ObjectStore
        from waqiti_drill.platform.local.pgbackrest import REPO_PATH

        store = ObjectStore(self.context())
        s3: Any = store.client()
        bucket, stanza = self.settings.backup.bucket, self.settings.backup.stanza
        key = f"{REPO_PATH.strip('/')}/backup/{stanza}/backup.info"
        head = s3.head_object(Bucket=bucket, Key=key)
        first = s3.get_object(Bucket=bucket, Key=key, Range="bytes=0-7")["Body"].read()
        return RepositoryEncryption(bucket_default=str(store.bucket_encryption(s3) or "none"), object_key=key,
                                    object_sse=str(head.get("ServerSideEncryption") or "none"),
                                    client_encrypted=first == b"Salted__", first_bytes=repr(first))

    def backup_policy(self) -> BackupPolicyInForce:
        options = self._pgbackrest_options()
        return BackupPolicyInForce(
            schedules=self._schedules(), full_retention_type=options.get("repo1-retention-full-type", ""),
            full_retention_days=options.get("repo1-retention-full", ""),
            incremental_retention_days=str(self.settings.backup.incr_retention_days),
            cipher=options.get("repo1-cipher-type", ""), compression=options.get("compress-type", ""))

    def _pgbackrest_options(self) -> dict[str, str]:
        """The [global] options of the first member's rendered pgbackrest.conf, secrets left out."""
        from waqiti_drill.platform.local.layout import members
        from waqiti_drill.platform.local.pgbackrest import config_path

        options: dict[str, str] = {}
        for line in config_path(self.settings, members(self.settings)[0].name).read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() not in SECRET_OPTIONS:
                options[key.strip()] = value.strip()
        return options

    def _schedules(self) -> dict[str, str]:
        """Cron expressions of the full, incremental and verify jobs in the rendered crontab."""
        path = self.settings.state_dir / "pgbackrest" / "schedule.crontab"
        found: dict[str, str] = {}
        for line in path.read_text().splitlines():
            if line.startswith("#") or "--stanza=" not in line:
                continue
            fields = line.split()
            cron, command = " ".join(fields[:5]), fields[-1]
            kind = "full" if "--type=full" in line else "incremental" if "--type=incr" in line else command
            found.setdefault(kind, cron)
        return found

    def component_versions(self) -> dict[str, str]:
        """Versions read from the servers where they answer (PostgreSQL, Redis), from the binaries otherwise; a
        component that cannot be read says why ("unknown: ...") rather than being left out or guessed."""
        from waqiti_drill.platform.local.patroni import PG_BIN, patroni_executable

        venv_bin = (str(Path(sys.executable).parent),)
        return {
            "postgres": self._server_postgres() or _binary_version([str(PG_BIN / "postgres"), "--version"]),
            "patroni": _binary_version([str(patroni_executable()), "--version"]),
            "etcd": _binary_version([_which("etcd"), "--version"]),
            "redis": self._server_redis() or _binary_version([_which("redis-server"), "--version"]),
            "pgbackrest": _binary_version([_which("pgbackrest"), "version"]),
            "haproxy": _binary_version([_which("haproxy"), "-v"]),
            "weed": _binary_version([_which("weed", venv_bin), "version"]),
        }

    def _server_postgres(self) -> str | None:
        import psycopg

        from waqiti_drill.platform.local.endpoints import Endpoints

        try:
            kwargs = Endpoints(self.context()).connect_kwargs(False)
            with psycopg.connect(**kwargs, connect_timeout=5) as conn:  # type: ignore[arg-type]
                row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]).split()[0] if row else None
        except Exception:  # noqa: BLE001 - the binary is asked instead
            return None

    def _server_redis(self) -> str | None:
        from waqiti_drill.platform.local.redis_cluster import RedisCluster

        cluster = RedisCluster(self.context())
        try:
            with cluster.client(cluster.addresses()[0]) as client:
                return str(client.info("server")["redis_version"])
        except Exception:  # noqa: BLE001 - the binary is asked instead
            return None


def _binary_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown: {type(exc).__name__}"
    match = VERSION.search(out.stdout + out.stderr)
    return match.group(1) if match else f"unknown: {argv[0]} printed no version"


def _which(name: str, extra: tuple[str, ...] = ()) -> str:
    for d in extra:
        if (Path(d) / name).exists():
            return str(Path(d) / name)
    return shutil.which(name) or name
