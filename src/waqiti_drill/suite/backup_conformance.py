"""Conformance of the backups: encrypted (pgBackRest's cipher, the bucket's SSE and an object's own answer),
scheduled and kept as the spec says.

Encryption is shown on what the store holds: the bucket's default encryption, head_object of an object
pgBackRest wrote (ServerSideEncryption), and its first bytes (pgBackRest's aes-256-cbc files begin with
`Salted__`). The schedule and retention are read from what the harness rendered for pgBackRest.
"""

from __future__ import annotations

from typing import Any

from waqiti_drill.platform.base import Platform
from waqiti_drill.suite.conformance import local_platform

SECRET_OPTIONS = frozenset({"repo1-cipher-pass", "repo1-s3-key", "repo1-s3-key-secret"})


def pgbackrest_options(platform: Platform) -> dict[str, str]:
    """The [global] options of the rendered pgbackrest.conf of the first member, secrets left out."""
    from waqiti_drill.platform.local.pgbackrest import config_path

    settings = local_platform(platform).settings
    member = platform.postgres_members()[0].name
    options: dict[str, str] = {}
    for line in config_path(settings, member).read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() not in SECRET_OPTIONS:
            options[key.strip()] = value.strip()
    return options


def object_store_encryption(platform: Platform) -> dict[str, str]:
    """Bucket default SSE, and for the repository's backup.info: its SSE header and whether it is
    pgBackRest-encrypted (begins with Salted__)."""
    from waqiti_drill.platform.local.objectstore import ObjectStore
    from waqiti_drill.platform.local.pgbackrest import REPO_PATH

    local = local_platform(platform)
    store = ObjectStore(local.context())
    s3: Any = store.client()
    bucket, stanza = local.settings.backup.bucket, local.settings.backup.stanza
    key = f"{REPO_PATH.strip('/')}/backup/{stanza}/backup.info"
    head = s3.head_object(Bucket=bucket, Key=key)
    first = s3.get_object(Bucket=bucket, Key=key, Range="bytes=0-7")["Body"].read()
    return {"bucket default encryption": str(store.bucket_encryption(s3)),
            "object server-side encryption": str(head.get("ServerSideEncryption")),
            "object encrypted by pgBackRest": "yes" if first == b"Salted__" else f"no (begins {first!r})",
            "object": key}


def schedule(platform: Platform) -> dict[str, str]:
    """Cron expressions of the full, incremental and verify jobs in the rendered crontab."""
    local = local_platform(platform)
    path = local.settings.state_dir / "pgbackrest" / "schedule.crontab"
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("#") or "--stanza=" not in line:
            continue
        fields = line.split()
        cron, command = " ".join(fields[:5]), fields[-1]
        kind = "full" if "--type=full" in line else "incremental" if "--type=incr" in line else command
        found.setdefault(f"{kind} schedule", cron)
    return found


def retention(platform: Platform) -> dict[str, str]:
    options = pgbackrest_options(platform)
    local = local_platform(platform)
    return {"full retention type": options.get("repo1-retention-full-type", ""),
            "full retention days": options.get("repo1-retention-full", ""),
            "incremental retention days": str(local.settings.backup.incr_retention_days),
            "cipher": options.get("repo1-cipher-type", ""), "compression": options.get("compress-type", "")}
