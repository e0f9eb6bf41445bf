import json
import stat

import pytest

from waqiti_drill.errors import InvalidConfig, StateDirError
from waqiti_drill.secrets import ENV_NAMES, load_secrets


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for env in ENV_NAMES.values():
        if env:
            monkeypatch.delenv(env, raising=False)


def test_generated_once_and_kept_private(tmp_path):
    path = tmp_path / "secrets.json"
    first = load_secrets(path, create=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_secrets(path, create=False)
    assert first == again
    assert len(first.s3_kek_hex) == 64 and int(first.s3_kek_hex, 16) >= 0
    assert len(set(first.values())) == len(first.values())


def test_environment_supplies_values(tmp_path, monkeypatch):
    monkeypatch.setenv("DRILL_REDIS_PASSWORD", "from-env-12345678")
    s = load_secrets(tmp_path / "secrets.json", create=True)
    assert s.redis_password == "from-env-12345678"
    assert json.loads((tmp_path / "secrets.json").read_text())["redis_password"] == "from-env-12345678"


@pytest.mark.parametrize("weak", ["short-1", "sixteen-letters-only", "1234567890123456789"])
def test_a_weak_supplied_password_is_refused_naming_the_variable_not_the_value(tmp_path, monkeypatch, weak):
    monkeypatch.setenv("DRILL_POSTGRES_PASSWORD", weak)
    with pytest.raises(InvalidConfig, match="DRILL_POSTGRES_PASSWORD is too weak: at least 16 characters") as err:
        load_secrets(tmp_path / "secrets.json", create=True)
    assert weak not in str(err.value) and not (tmp_path / "secrets.json").exists()


def test_generated_passwords_are_192_bits():
    from waqiti_drill.secrets import PASSWORDS, _generate

    assert all(len(_generate(name)) == 32 for name in PASSWORDS)  # 24 random bytes, URL-safe base64


def test_environment_disagreeing_with_the_stack_is_refused(tmp_path, monkeypatch):
    load_secrets(tmp_path / "secrets.json", create=True)
    monkeypatch.setenv("DRILL_POSTGRES_PASSWORD", "something-else")
    with pytest.raises(InvalidConfig, match="DRILL_POSTGRES_PASSWORD differs"):
        load_secrets(tmp_path / "secrets.json", create=False)


def test_empty_variable_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("DRILL_S3_SECRET_KEY", "")
    with pytest.raises(InvalidConfig, match="DRILL_S3_SECRET_KEY is set but empty"):
        load_secrets(tmp_path / "secrets.json", create=True)


def test_missing_file_without_create(tmp_path):
    with pytest.raises(StateDirError, match="run 'drill up' first"):
        load_secrets(tmp_path / "secrets.json", create=False)


def test_repr_never_shows_values(tmp_path):
    s = load_secrets(tmp_path / "secrets.json", create=True)
    assert s.redis_password not in repr(s) and "redacted" in repr(s)
