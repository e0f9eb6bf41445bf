"""AES-256 at rest, on the real stack: every PGDATA and every Redis node directory under an fscrypt v2
policy (AES-256-XTS contents, AES-256-CTS names) with its key present; a canary written through the
application and through a Redis client is read back, is in the members' and nodes' files as the
filesystem shows them, and is absent from the raw bytes of every image, while a control needle written
in plain on the same images is found by the same scan; after `drill down` and `drill up` the keys are
added again and both canaries read back.

Without root nothing is encrypted: `drill up` says so in one line and the view reports no policy.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import psycopg
import pytest
from redis.cluster import RedisCluster

from waqiti_drill.platform.local import atrest
from waqiti_drill.platform.local.layout import members
from waqiti_drill.platform.local.mounts import disks_enabled
from waqiti_drill.platform.local.pgroles import superuser_connect

pytestmark = [pytest.mark.integration]

TABLE = "at_rest_canary"
REDIS_KEY = "at-rest-canary"


def _redis(platform) -> RedisCluster:  # noqa: ANN001
    """A cluster client of the stack's nodes, over TLS as the application connects."""
    from waqiti_drill.workload import redis_ops

    return redis_ops.connect_cluster([n.address for n in platform.redis_nodes()], platform.redis_password(),
                                     platform.redis_client_settings(), timeout=3)


def _write_canaries(stack, canary: str) -> None:  # noqa: ANN001
    platform = stack.platform()
    with psycopg.connect(**platform.postgres_connect_kwargs(), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id serial PRIMARY KEY, secret text NOT NULL)")
        conn.execute(f"INSERT INTO {TABLE} (secret) VALUES (%s)", (canary,))
    primary = next(m for m in members(stack.settings) if m.name == _primary(platform))
    with superuser_connect(platform.context(), primary) as conn:
        conn.execute("CHECKPOINT")  # the row's page in its data file, not only in WAL
    with _redis(platform) as rc:
        rc.set(REDIS_KEY, canary)
        rc.get_redis_connection(rc.get_node_from_key(REDIS_KEY)).execute_command("WAIT", 1, 5000)


def _primary(platform) -> str:  # noqa: ANN001
    return next(m.name for m in platform.postgres_members() if m.role == "primary")


def _read_back(stack) -> tuple[list[str], bytes | None]:  # noqa: ANN001
    platform = stack.platform()
    with psycopg.connect(**platform.postgres_connect_kwargs(), autocommit=True, connect_timeout=5) as conn:
        rows = [r[0] for r in conn.execute(f"SELECT secret FROM {TABLE} ORDER BY id")]
    with _redis(platform) as rc:
        return rows, rc.get(REDIS_KEY)


def _files_holding(root: Path, needle: bytes) -> list[Path]:
    """Files under `root` whose contents, as the (unlocked) filesystem shows them, hold the needle."""
    out = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if needle in path.read_bytes():
                    out.append(path)
            except OSError:
                continue  # a file removed while we walked (a recycled WAL segment)
    return out


@pytest.fixture(scope="module")
def canary(stack) -> str:  # noqa: ANN001
    value = f"canary-{secrets.token_hex(16)}"
    _write_canaries(stack, value)
    return value


def test_without_root_up_says_at_rest_encryption_needs_root(stack):
    if disks_enabled():
        assert "at-rest encryption needs root" not in stack.up_output
        pytest.skip("root: the volumes are encrypted (the tests below)")
    assert "note: at-rest encryption needs root" in stack.up_output
    assert not any(v.encrypted for v in atrest.view(stack.settings))


def test_every_pgdata_and_redis_node_directory_is_aes256_encrypted_with_its_key_present(stack):
    if not disks_enabled():
        pytest.skip("not root: nothing is encrypted")
    views = {v.name: v for v in atrest.view(stack.settings)}
    assert sorted(views) == ["pg1", "pg2", "pg3", "redis"]
    for m in members(stack.settings):
        paths = [d.path for d in views[m.name].directories]
        assert paths == [str(m.base), str(m.data_dir), str(m.data_dir / "pg_wal")]
    redis_dirs = {Path(d.path).name for d in views["redis"].directories}
    assert {str(p) for p in stack.settings.ports.redis} <= redis_dirs
    for v in views.values():
        assert v.mounted and v.key_status == "present", v
        for d in v.directories:
            assert (d.version, d.contents, d.filenames) == (2, "AES-256-XTS", "AES-256-CTS"), d
        assert len({d.key_identifier for d in v.directories}) == 1  # one key per volume
        assert v.encrypted
    assert len({v.directories[0].key_identifier for v in views.values()}) == 4  # and a key of its own each
    keys = stack.state_dir / "keys"
    assert oct(keys.stat().st_mode & 0o777) == "0o700"
    for key in keys.iterdir():
        assert oct(key.stat().st_mode & 0o777) == "0o600" and key.stat().st_uid == os.geteuid()


def test_canary_reaches_every_volume_yet_no_raw_image_holds_it_while_the_control_is_found(stack, canary):
    if not disks_enabled():
        pytest.skip("not root: there are no images to scan")
    rows, value = _read_back(stack)
    assert canary in rows and value == canary
    needle = canary.encode()
    for m in members(stack.settings):  # the data is on every member's filesystem (WAL at least) ...
        assert _files_holding(m.data_dir, needle), f"the canary is in no file of {m.name}'s PGDATA"
    in_redis = _files_holding(stack.state_dir / "redis", needle)
    assert len({p.relative_to(stack.state_dir / "redis").parts[0] for p in in_redis}) >= 2  # master and replica
    control = f"control-{secrets.token_hex(16)}".encode()
    assert len(atrest.write_control(stack.settings, control)) == 4
    started = time.monotonic()
    scans = atrest.scan_raw(stack.settings, needle)  # ... but never in the bytes of its image
    controls = atrest.scan_raw(stack.settings, control)
    seconds = time.monotonic() - started
    assert [s.volume for s in scans] == ["pg1", "pg2", "pg3", "redis"]
    assert all(s.bytes_scanned == stack.settings.disk_mib << 20 for s in scans)
    assert [s.volume for s in scans if s.found] == []
    assert [s.volume for s in controls if not s.found] == []
    print(f"\nscanned {sum(s.bytes_scanned for s in scans) >> 20} MiB twice in {seconds:.1f}s")


def test_after_down_and_up_the_keys_are_added_again_and_the_data_reads_back(stack, canary):
    if not disks_enabled():
        pytest.skip("not root: no keys to add again")
    down = stack.drill("down")
    assert down.returncode == 0, down.stderr
    assert all(v.key_status == "not mounted" for v in atrest.view(stack.settings))
    assert [s.volume for s in atrest.scan_raw(stack.settings, canary.encode()) if s.found] == []
    up = stack.drill("up")
    assert up.returncode == 0, up.stderr
    assert all(v.encrypted for v in atrest.view(stack.settings))
    rows, value = _read_back(stack)
    assert canary in rows and value == canary
