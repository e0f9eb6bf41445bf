"""Backups: WAL archiving plus encrypted full and incremental backups in the S3 bucket."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def full_backup(stack):
    result = stack.drill("backup", "full", timeout=600)
    assert result.returncode == 0, result.stderr
    return result


def test_full_backup_listed_by_drill_backups_json(stack, full_backup):
    result = stack.drill("backups", "--json")
    assert result.returncode == 0, result.stderr
    backups = json.loads(result.stdout)
    fulls = [b for b in backups if b["type"] == "full"]
    assert fulls, backups
    latest = fulls[-1]
    assert latest["label"].endswith("F")
    assert latest["wal_start"] and latest["wal_stop"] and latest["wal_start"] <= latest["wal_stop"]
    assert latest["start"] <= latest["stop"]
    assert latest["size_bytes"] > 0 and latest["repo_size_bytes"] > 0


def test_full_backup_listed_by_pgbackrest_info(stack, full_backup):
    from waqiti_drill.platform.local.pgbackrest import BackupRepo

    platform = stack.platform()
    info = json.loads(BackupRepo(platform.context()).info_json())
    labels = [b["label"] for stanza in info for b in stanza["backup"]]
    listed = [b.label for b in platform.list_backups()]
    assert labels == listed and any(label.endswith("F") for label in labels)
    assert info[0]["status"]["message"] == "ok"
    assert info[0]["cipher"] == "aes-256-cbc"


def test_incremental_backup_depends_on_the_full(stack, full_backup):
    result = stack.drill("backup", "incr", timeout=600)
    assert result.returncode == 0, result.stderr
    backups = stack.platform().list_backups()
    incr = backups[-1]
    assert incr.type == "incr" and incr.prior is not None
    assert incr.prior in [b.label for b in backups]


def test_repository_files_are_encrypted_by_pgbackrest_and_the_store(stack, full_backup):
    from waqiti_drill.platform.local.objectstore import ObjectStore

    platform = stack.platform()
    store = ObjectStore(platform.context())
    s3 = store.client()
    bucket = platform.status().s3.bucket
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="pgbackrest/")["Contents"]]
    backup_files = [k for k in keys if "/backup/" in k and k.endswith(".zst")]
    assert backup_files
    for key in backup_files[:5]:
        obj = s3.get_object(Bucket=bucket, Key=key)
        assert obj["Body"].read(8) == b"Salted__", key
        assert obj["ServerSideEncryption"] == "AES256", key
