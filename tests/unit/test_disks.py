"""Bounded member filesystems: mount-table parsing, and (as root) a real small loop-mounted disk filled
to the last block and freed, without the filesystem the state directory lives on filling."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from waqiti_drill.config import Settings
from waqiti_drill.errors import InvalidConfig
from waqiti_drill.platform.local.disks import (
    MemberDisks,
    _unescape,
    image_path,
    mount_point,
    mounted_at,
    mounts_under,
)
from waqiti_drill.platform.local.layout import members
from waqiti_drill.platform.local.runas import resolve_run_user


def test_mountinfo_escapes_are_undone():
    assert _unescape(r"/tmp/a\040b") == "/tmp/a b"
    assert _unescape(r"/tmp/t\011x\134y") == "/tmp/t\tx\\y"
    assert _unescape("/plain") == "/plain"


def test_root_is_mounted_and_a_fresh_directory_is_not(tmp_path):
    assert mounted_at(Path("/proc"))
    assert not mounted_at(tmp_path)
    assert mounts_under(tmp_path) == []


def test_each_member_filesystem_is_mounted_at_its_pgdata_parent(tmp_path):
    s = Settings(state_dir=tmp_path / "st")
    for m in members(s):
        assert mount_point(m) == s.state_dir / "pg" / m.name
        assert image_path(s, m.name) == s.state_dir / "disks" / f"{m.name}.img"


def test_disk_size_is_validated(tmp_path):
    from waqiti_drill.config import load_settings

    cfg = tmp_path / "drill.toml"
    cfg.write_text("disk_mib = 16\n")
    with pytest.raises(InvalidConfig, match="disk_mib"):
        load_settings(str(tmp_path / "st"), str(cfg))
    cfg.write_text("disk_mib = 256\n")
    assert load_settings(str(tmp_path / "st"), str(cfg)).disk_mib == 256


needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mkfs.ext4")
                                or not Path("/dev/loop-control").exists(),
                                reason="loop mounts need root, mkfs.ext4 and /dev/loop-control")


@needs_root
def test_a_member_disk_fills_to_the_last_block_and_nothing_else_does(tmp_path):
    base = tmp_path / "st"
    base.mkdir()
    os.chmod(tmp_path, 0o755)
    settings = Settings(state_dir=base, disk_mib=64)
    disks = MemberDisks(settings, resolve_run_user(settings.run_user))
    try:
        made = disks.ensure()
        assert len([d for d in made if d.startswith("mounted")]) == 4  # three members and Redis
        assert disks.ensure() == []  # idempotent
        names = [m.name for m in members(settings)]
        images = [image_path(settings, n) for n in names]
        before = [i.stat().st_blocks for i in images]
        assert all(b * 512 >= 64 << 20 for b in before)  # fully allocated up front
        written = disks.fill(names[0])
        assert written > 50 << 20
        free, total = disks.usage(names[0])
        assert free == 0 and total <= 64 << 20
        assert disks.filled() == [names[0]]
        assert disks.usage(names[1])[0] > 50 << 20  # the other members' disks are untouched
        assert [i.stat().st_blocks for i in images] == before  # filling took nothing from the outer filesystem
        with pytest.raises(OSError, match="No space left"):
            (mount_point(members(settings)[0]) / "more").write_bytes(b"x" * 65536)
        assert disks.free(names[0]) is True
        assert disks.free(names[0]) is False
        assert disks.filled() == []
        assert disks.usage(names[0])[0] > 50 << 20
        (mount_point(members(settings)[1]) / "kept").write_text("still here")
    finally:
        disks.unmount_all()
    assert mounts_under(base) == []
    # after a "reboot" (nothing mounted) the same images are mounted again, the data still there
    disks.ensure()
    try:
        assert all(mounted_at(mount_point(m)) for m in members(settings))
        assert (mount_point(members(settings)[1]) / "kept").read_text() == "still here"  # its key added again
    finally:
        disks.unmount_all()
    assert mounts_under(base) == []
