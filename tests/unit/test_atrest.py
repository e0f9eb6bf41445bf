"""Encryption at rest: the raw scan's chunking, the view's verdicts, and (as root) one real encrypted
volume: its policy, its key added again after a remount, plaintext absent from the raw image while the
control is found on that very image, and the one-line refusals."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

import pytest

from waqiti_drill.config import Settings
from waqiti_drill.errors import StateDirError
from waqiti_drill.platform.local import atrest, fscrypt
from waqiti_drill.platform.local.atrest import DirectoryPolicy, VolumeAtRest, find_in_file
from waqiti_drill.platform.local.mounts import mounts_under
from waqiti_drill.platform.local.runas import resolve_run_user
from waqiti_drill.platform.local.volumes import mount_volume, unmount_volume, volume


@pytest.mark.parametrize("offset", [0, 99, 100 - 5, 100 - 3, 100, 250])
def test_a_needle_is_found_wherever_it_lies_even_across_chunks(tmp_path, offset):
    needle = b"NEEDLE"
    data = bytearray(os.urandom(300).replace(b"N", b"n"))
    data[offset:offset + len(needle)] = needle
    path = tmp_path / "img"
    path.write_bytes(bytes(data))
    scanned, found = find_in_file(path, needle, chunk=100)
    assert found
    assert scanned == min(300, (offset + len(needle) + 99) // 100 * 100)


def test_an_absent_needle_is_not_found_and_every_byte_is_read(tmp_path):
    path = tmp_path / "img"
    path.write_bytes(b"x" * 1000)
    assert find_in_file(path, b"NEEDLE", chunk=64) == (1000, False)
    with pytest.raises(ValueError, match="empty needle"):
        find_in_file(path, b"")


def _dirs(*policies: tuple[int | None, str | None, str | None]) -> list[DirectoryPolicy]:
    return [DirectoryPolicy(f"/d{i}", v, c, f, "00" * 16 if v else None) for i, (v, c, f) in enumerate(policies)]


def test_a_volume_is_encrypted_only_with_every_directory_aes256_v2_and_its_key_present():
    good = (2, "AES-256-XTS", "AES-256-CTS")
    assert VolumeAtRest("pg1", "i", "m", True, "present", _dirs(good, good)).encrypted
    assert not VolumeAtRest("pg1", "i", "m", True, "absent", _dirs(good, good)).encrypted
    assert not VolumeAtRest("pg1", "i", "m", True, "present", _dirs(good, (None, None, None))).encrypted
    assert not VolumeAtRest("pg1", "i", "m", True, "present", _dirs(good, (2, "Adiantum", "Adiantum"))).encrypted
    assert not VolumeAtRest("pg1", "i", "m", True, "present", []).encrypted


def test_without_root_everything_is_reported_unencrypted_and_there_is_nothing_to_scan(tmp_path, monkeypatch):
    from waqiti_drill.errors import Unsupported

    monkeypatch.setattr(atrest, "disks_enabled", lambda: False)
    settings = Settings(state_dir=tmp_path)
    (tmp_path / "pg" / "pg1" / "data").mkdir(parents=True)
    views = atrest.view(settings)
    assert [v.name for v in views] == ["pg1", "pg2", "pg3", "redis"]
    assert not any(v.encrypted for v in views)
    assert [d.path for d in views[0].directories] == [str(tmp_path / "pg" / "pg1"), str(tmp_path / "pg/pg1/data")]
    with pytest.raises(Unsupported, match="needs root"):
        atrest.scan_raw(settings, b"x")


needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mkfs.ext4")
                                or not Path("/dev/loop-control").exists(),
                                reason="loop mounts need root, mkfs.ext4 and /dev/loop-control")


@needs_root
def test_a_real_volume_is_encrypted_its_plaintext_absent_from_the_image_and_the_control_found(tmp_path):
    os.chmod(tmp_path, 0o755)
    settings = Settings(state_dir=tmp_path / "st", disk_mib=32)
    user = resolve_run_user(settings.run_user)
    vol = volume(settings, "redis")
    secret, control = secrets.token_hex(16).encode(), secrets.token_hex(16).encode()
    try:
        assert any("made" in d for d in mount_volume(vol, 32, user))
        assert mount_volume(vol, 32, user) == []  # idempotent
        assert oct(vol.key.stat().st_mode & 0o777) == "0o600" and vol.key.stat().st_size == 64
        node = vol.target / "7000"
        node.mkdir()
        (node / "appendonly.aof").write_bytes(secret * 1000)
        [seen] = [v for v in atrest.view(settings) if v.name == "redis"]
        assert seen.encrypted and seen.mounted and seen.key_status == "present"
        assert [d.path for d in seen.directories] == [str(vol.target), str(node)]
        assert atrest.write_control(settings, control) == [str(vol.root / atrest.CONTROL_FILE)]
        [scan] = atrest.scan_raw(settings, secret)
        assert scan.volume == "redis" and not scan.found and scan.bytes_scanned == 32 << 20
        assert [s.found for s in atrest.scan_raw(settings, control)] == [True]
        ident = bytes.fromhex(seen.directories[0].key_identifier or "")
    finally:
        unmount_volume(vol)
    assert mounts_under(settings.state_dir) == []
    assert [v.key_status for v in atrest.view(settings) if v.name == "redis"] == ["not mounted"]
    try:
        mount_volume(vol, 32, user)  # after a "reboot": the key is added again and the data reads back
        assert (vol.target / "7000" / "appendonly.aof").read_bytes() == secret * 1000
        assert fscrypt.key_status(vol.root, ident) == "present"
    finally:
        unmount_volume(vol)


@needs_root
def test_a_volume_whose_key_file_is_gone_is_refused_in_one_line(tmp_path):
    os.chmod(tmp_path, 0o755)
    settings = Settings(state_dir=tmp_path / "st", disk_mib=32)
    user = resolve_run_user(settings.run_user)
    vol = volume(settings, "pg1")
    try:
        mount_volume(vol, 32, user)
    finally:
        unmount_volume(vol)
    vol.key.unlink()
    try:
        with pytest.raises(StateDirError, match=r"the key of volume pg1 \(.*pg1.key\) is missing"):
            mount_volume(vol, 32, user)
    finally:
        unmount_volume(vol)
    assert mounts_under(settings.state_dir) == []


@needs_root
def test_an_image_made_before_encryption_at_rest_is_refused_in_one_line(tmp_path):
    import subprocess

    from waqiti_drill.platform.local.volumes import new_key

    os.chmod(tmp_path, 0o755)
    settings = Settings(state_dir=tmp_path / "st", disk_mib=32)
    vol = volume(settings, "pg2")
    vol.image.parent.mkdir(parents=True)
    with open(vol.image, "wb") as fh:
        fh.truncate(32 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(vol.image)], check=True)  # no -O encrypt: as layout 3 made them
    new_key(vol.key)
    try:
        with pytest.raises(StateDirError, match="made without ext4's encrypt feature .*'drill down --purge'"):
            mount_volume(vol, 32, resolve_run_user(settings.run_user))
    finally:
        unmount_volume(vol)
    assert mounts_under(settings.state_dir) == []


def test_status_and_up_show_the_note_that_at_rest_encryption_needs_root(capsys, monkeypatch, tmp_path):
    from waqiti_drill import cli
    from waqiti_drill.platform.base import PlatformStatus, PostgresStatus, RedisStatus, S3Status

    status = PlatformStatus("local", PostgresStatus([], "rw", "ro"), RedisStatus([], "ok", 16384),
                            S3Status("https://s3", "bucket", "ca"), notes=[atrest.NEEDS_ROOT])
    text = cli.render_status(status, Settings(state_dir=tmp_path))
    assert "Note: at-rest encryption needs root: PostgreSQL's and Redis's data are stored unencrypted" in text

    class Up:
        def up(self) -> PlatformStatus:
            return status

    monkeypatch.setattr(cli, "_platform", lambda settings: Up())
    assert cli.cmd_up(Settings(state_dir=tmp_path), None) == 0  # type: ignore[arg-type]
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "at-rest" in ln]
    assert lines == ["note: " + atrest.NEEDS_ROOT]
