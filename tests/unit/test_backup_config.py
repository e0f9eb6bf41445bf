"""Pure rendering and parsing for the object store and pgBackRest: no server is started."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from waqiti_drill.config import Settings
from waqiti_drill.errors import CommandFailed, InvalidConfig
from waqiti_drill.platform.base import BackupInfo
from waqiti_drill.platform.local.layout import members
from waqiti_drill.platform.local.objectstore import identities_json, security_toml
from waqiti_drill.platform.local.pgbackrest import (
    incrementals_to_expire,
    parse_info,
    render_config,
    render_crontab,
)
from waqiti_drill.secrets import Secrets

KEK = "ab" * 32


def make_secrets(**overrides: str) -> Secrets:
    values = dict(
        postgres_password="app-pw",
        redis_password="redis-pw",
        s3_access_key="WQACCESSKEY",
        s3_secret_key="s3-secret-value",
        backup_cipher_pass="cipher-pass-value",
        superuser_password="super-pw",
        replication_password="repl-pw",
        rewind_password="rewind-pw",
        patroni_rest_password="rest-pw",
        s3_kek_hex=KEK,
        dr_s3_access_key="WQDRACCESSKEY",
        dr_s3_secret_key="dr-s3-secret-value",
        dr_s3_kek_hex=KEK[::-1],
        redis_backup_key=KEK,
    )
    values.update(overrides)
    return Secrets(**values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state")


def parse_ini(text: str) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        else:
            key, _, value = line.partition("=")
            assert key not in current, f"duplicate option {key}"
            current[key] = value
    return sections


# -- pgBackRest config ---------------------------------------------------------------------------


def test_config_has_repo_and_member_options(settings: Settings) -> None:
    pg2 = members(settings)[1]
    conf = parse_ini(render_config(settings, make_secrets(), pg2, process_max=2))
    g, stanza = conf["global"], conf["waqiti"]
    assert g["repo1-type"] == "s3"
    assert g["repo1-s3-bucket"] == "waqiti-postgres-backups"
    assert g["repo1-s3-endpoint"] == "localhost"
    assert g["repo1-storage-port"] == "25333"
    assert g["repo1-s3-uri-style"] == "path"
    assert g["repo1-storage-ca-file"] == str(settings.state_dir / "tls" / "ca.crt")
    assert g["repo1-path"] == "/pgbackrest"
    assert (g["repo1-cipher-type"], g["compress-type"]) == ("aes-256-cbc", "zst")
    assert (g["repo1-retention-full-type"], g["repo1-retention-full"]) == ("time", "90")
    assert g["start-fast"] == "y" and g["process-max"] == "2"
    assert g["log-path"] == str(settings.state_dir / "pgbackrest" / "log" / "pg2")
    assert g["lock-path"] == str(settings.state_dir / "pgbackrest" / "lock")
    assert stanza == {
        "pg1-path": str(pg2.data_dir),
        "pg1-port": "25442",
        "pg1-socket-path": str(pg2.socket_dir),
        "pg1-user": "postgres",
    }


def test_config_carries_secrets_only_in_their_options(settings: Settings) -> None:
    conf = parse_ini(render_config(settings, make_secrets(), members(settings)[0]))["global"]
    assert conf["repo1-s3-key"] == "WQACCESSKEY"
    assert conf["repo1-s3-key-secret"] == "s3-secret-value"
    assert conf["repo1-cipher-pass"] == "cipher-pass-value"
    # no archive retention override: WAL retention follows the time-based full retention
    assert not any(k.startswith("repo1-retention-archive") for k in conf)


def test_config_refuses_a_value_that_would_inject_options(settings: Settings) -> None:
    evil = make_secrets(backup_cipher_pass="x\nrepo1-path=/elsewhere")
    with pytest.raises(InvalidConfig, match="repo1-cipher-pass"):
        render_config(settings, evil, members(settings)[0])


def test_crontab_documents_the_schedule(settings: Settings) -> None:
    ms = members(settings)
    text = render_crontab(settings, ms, "/usr/bin/pgbackrest", "postgres")
    jobs = [ln for ln in text.splitlines() if ln and not ln.startswith("#") and "=" not in ln.split()[0]]
    full = [j for j in jobs if "--type=full backup" in j]
    incr = [j for j in jobs if "--type=incr backup" in j]
    verify = [j for j in jobs if j.endswith(" verify")]
    assert len(full) == len(incr) == 3 and len(verify) == 1
    assert all(j.startswith("0 2 * * 0 postgres /usr/bin/pgbackrest --stanza=waqiti") for j in full)
    assert all(j.startswith("0 */6 * * * postgres ") for j in incr)
    assert verify[0].startswith("0 4 * * * postgres ")
    assert f"--config={settings.state_dir / 'pgbackrest' / 'pg3.conf'}" in incr[2]
    assert "CRON_TZ=UTC" in text
    assert "secret" not in text


def test_crontab_rejects_a_malformed_schedule(tmp_path: Path) -> None:
    from waqiti_drill.config import BackupPolicy

    bad = Settings(state_dir=tmp_path, backup=BackupPolicy(incr_schedule="every 6 hours"))
    with pytest.raises(InvalidConfig, match="cron"):
        render_crontab(bad, members(bad), "/usr/bin/pgbackrest", "postgres")


# -- pgbackrest info ---------------------------------------------------------------------------------


def raw_backup(label: str, kind: str, start: int, prior: str | None = None) -> dict:
    return {
        "archive": {"start": "000000010000000000000002", "stop": "000000010000000000000003"},
        "info": {"delta": 100, "repository": {"delta": 7, "size": 30}, "size": 200},
        "label": label,
        "prior": prior,
        "timestamp": {"start": start, "stop": start + 4},
        "type": kind,
    }


def test_parse_info_reads_backup_sets() -> None:
    text = json.dumps(
        [
            {"name": "other", "backup": [raw_backup("20240101-000000F", "full", 0)]},
            {
                "name": "waqiti",
                "backup": [
                    raw_backup("20240301-020000F", "full", 1709258400),
                    raw_backup("20240301-020000F_20240301-080000I", "incr", 1709280000, "20240301-020000F"),
                ],
            },
        ]
    )
    full, incr = parse_info(text, "waqiti")
    assert full == BackupInfo(
        type="full",
        label="20240301-020000F",
        start="2024-03-01T02:00:00Z",
        stop="2024-03-01T02:00:04Z",
        wal_start="000000010000000000000002",
        wal_stop="000000010000000000000003",
        size_bytes=200,
        repo_size_bytes=7,  # the repository delta: what this set itself adds
        prior=None,
    )
    assert (incr.type, incr.prior, incr.start) == ("incr", "20240301-020000F", "2024-03-01T08:00:00Z")


def test_parse_info_without_stanza_or_backups() -> None:
    assert parse_info("[]") == []
    assert parse_info(json.dumps([{"name": "waqiti", "backup": []}])) == []
    with pytest.raises(CommandFailed):
        parse_info("ERROR: not json")


def test_parse_info_falls_back_to_repository_size() -> None:
    raw = raw_backup("20240301-020000F", "full", 0)
    raw["info"]["repository"] = {"size": 30}
    (only,) = parse_info(json.dumps([{"name": "waqiti", "backup": [raw]}]))
    assert only.repo_size_bytes == 30


# -- incremental retention -------------------------------------------------------------------------

NOW = dt.datetime(2024, 3, 30, 12, 0, tzinfo=dt.UTC)


def backup(label: str, kind: str, days_ago: float, prior: str | None = None) -> BackupInfo:
    stop = (NOW - dt.timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return BackupInfo(kind, label, stop, stop, "", "", 1, 1, prior)  # type: ignore[arg-type]


def test_old_incremental_chain_is_expired_from_its_oldest_link() -> None:
    backups = [
        backup("F1", "full", 20),
        backup("I1", "incr", 19, "F1"),
        backup("I2", "incr", 15, "I1"),
        backup("F2", "full", 13),
        backup("I3", "incr", 10, "F2"),
        backup("I4", "incr", 5, "I3"),
    ]
    # I1 and I2 are old with all dependents: expiring I1 takes I2 along. I3 is old but I4 depends on it.
    assert incrementals_to_expire(backups, NOW, 7) == ["I1"]


def test_nothing_to_expire_when_every_chain_has_a_young_member() -> None:
    backups = [backup("F1", "full", 30), backup("I1", "incr", 9, "F1"), backup("I2", "incr", 1, "I1")]
    assert incrementals_to_expire(backups, NOW, 7) == []


def test_fulls_and_diffs_are_never_chosen() -> None:
    backups = [backup("F1", "full", 100), backup("D1", "diff", 50, "F1"), backup("I1", "incr", 40, "D1")]
    assert incrementals_to_expire(backups, NOW, 7) == ["I1"]


def test_cutoff_is_exclusive_and_naive_now_means_utc() -> None:
    backups = [backup("F1", "full", 30), backup("I1", "incr", 7, "F1")]
    assert incrementals_to_expire(backups, NOW, 7) == []
    assert incrementals_to_expire(backups, NOW.replace(tzinfo=None) + dt.timedelta(seconds=1), 7) == ["I1"]


# -- object store files ---------------------------------------------------------------------------


def test_identities_enforce_one_key_pair() -> None:
    doc = json.loads(identities_json("AK", "SK"))
    (identity,) = doc["identities"]
    assert identity["credentials"] == [{"accessKey": "AK", "secretKey": "SK"}]
    assert {"Read", "Write", "List"} <= set(identity["actions"])


def test_security_toml_has_kek_and_jwt_keys() -> None:
    import tomllib

    doc = tomllib.loads(security_toml(KEK))
    assert doc["s3"]["sse"]["kek"] == KEK
    keys = {
        doc["jwt"]["signing"]["key"],
        doc["jwt"]["signing"]["read"]["key"],
        doc["jwt"]["filer_signing"]["key"],
        doc["jwt"]["filer_signing"]["read"]["key"],
    }
    assert len(keys) == 4 and KEK not in keys
    assert doc["filer"]["expose_directory_metadata"]["enabled"] is False
    with pytest.raises(ValueError, match="64 hex"):
        security_toml("not-hex")


def test_repo2_is_the_backup_region_store_only_when_chosen(settings: Settings) -> None:
    import dataclasses

    from waqiti_drill.platform.local.region import backup_settings

    pg1 = members(settings)[0]
    assert not any(k.startswith("repo2-") for k in parse_ini(render_config(settings, make_secrets(), pg1))["global"])
    chosen = dataclasses.replace(settings, region=dataclasses.replace(settings.region, replication="repo2"))
    g = parse_ini(render_config(chosen, make_secrets(), pg1))["global"]
    assert (g["repo2-type"], g["repo2-path"], g["repo2-storage-port"]) == ("s3", "/pgbackrest", "25350")
    assert (g["repo2-s3-key"], g["repo2-s3-key-secret"]) == ("WQDRACCESSKEY", "dr-s3-secret-value")
    assert g["repo2-cipher-pass"] == g["repo1-cipher-pass"], "the backup region restores with the same passphrase"
    backup = backup_settings(chosen)
    g = parse_ini(render_config(backup, make_secrets(), members(backup)[0]))["global"]
    assert not any(k.startswith("repo2-") for k in g), "the backup region has no backup region of its own"
