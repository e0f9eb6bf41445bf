"""Conformance of the backups: encrypted (pgBackRest's cipher, the bucket's SSE and an object's own answer),
scheduled and kept as the spec says, as {setting: actual} rows for the deployment feature's tables.

Encryption is shown on what the store holds: the bucket's default encryption, the SSE header of an object
the backup tool wrote, and whether its bytes are the tool's own ciphertext (Platform.repository_encryption).
"""

from __future__ import annotations

from waqiti_drill.platform.base import Platform


def object_store_encryption(platform: Platform) -> dict[str, str]:
    found = platform.repository_encryption()
    return {"bucket default encryption": found.bucket_default,
            "object server-side encryption": found.object_sse,
            "object encrypted by pgBackRest": "yes" if found.client_encrypted else f"no (begins {found.first_bytes})",
            "object": found.object_key}


def schedule(platform: Platform) -> dict[str, str]:
    return {f"{job} schedule": cron for job, cron in platform.backup_policy().schedules.items()}


def retention(platform: Platform) -> dict[str, str]:
    policy = platform.backup_policy()
    return {"full retention type": policy.full_retention_type, "full retention days": policy.full_retention_days,
            "incremental retention days": policy.incremental_retention_days, "cipher": policy.cipher,
            "compression": policy.compression}
