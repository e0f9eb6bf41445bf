"""Bounded, encrypted filesystems for the PostgreSQL members (and Redis), and the disk-full fault.

As root, each member's directory (<state>/pg/<member>, which holds PGDATA and so pg_wal) is its own
ext4 filesystem: an image file <state>/disks/<member>.img of `disk_mib` MiB, loop-mounted and
encrypted at rest (volumes.py: the directory is a bind mount of an fscrypt-encrypted directory of the
image). The image is fully allocated when it is made (posix_fallocate), so filling the member's
filesystem never takes space from the filesystem the state directory lives on: the bound is paid
once, at `drill up`. Redis's directory (<state>/redis) is one more such volume, made and mounted
with the members'. `fill_disk` writes <mount>/filler (outside PGDATA) until the filesystem refuses
(ENOSPC); PostgreSQL then fails to extend its files or write WAL, as on a real full volume.
`free_disk` removes the filler.

Without root nothing can be mounted or encrypted: members keep plain directories and the fault is
Unsupported (filling the machine's own filesystem is not a fault a drill may inject).
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from waqiti_drill.config import Settings
from waqiti_drill.errors import StateDirError, Unsupported
from waqiti_drill.platform.local.layout import MemberLocation, member, members
from waqiti_drill.platform.local.mounts import _unescape as _unescape
from waqiti_drill.platform.local.mounts import disks_enabled as disks_enabled
from waqiti_drill.platform.local.mounts import mounted_at as mounted_at
from waqiti_drill.platform.local.mounts import mounts_under as mounts_under
from waqiti_drill.platform.local.runas import RunAs
from waqiti_drill.platform.local.volumes import destroy_volume, mount_volume, unmount_volume, volume, volumes

FILLER = "filler"
CHUNK = 1 << 20  # 1 MiB writes, then 4 KiB ones for the last blocks


def disk_mode() -> str:
    return "loop" if disks_enabled() else "none"


def image_path(settings: Settings, name: str) -> Path:
    return volume(settings, name).image


def mount_point(location: MemberLocation) -> Path:
    """The filesystem holding the member's PGDATA is mounted at PGDATA's parent."""
    return location.data_dir.parent


class MemberDisks:
    """The members' (and Redis's) encrypted filesystems: made and mounted by `up`, unmounted by `down`."""

    def __init__(self, settings: Settings, user: RunAs) -> None:
        self.settings = settings
        self.user = user

    def ensure(self) -> list[str]:
        """Make missing images and mount every one that is not mounted (after a reboot too). Idempotent."""
        if not disks_enabled():
            return []
        done = []
        for vol in volumes(self.settings):
            done += mount_volume(vol, self.settings.disk_mib, self.user)
        return done

    def unmount_all(self, timeout: float = 10.0, names: list[str] | None = None) -> list[str]:
        """Unmount every volume of this stack, the restored copy's too (or those named; processes must be
        gone). Idempotent."""
        done = []
        for vol in volumes(self.settings, names, with_restore=True):
            done += unmount_volume(vol, timeout)
        return done

    def destroy(self, names: list[str] | None = None) -> list[str]:
        """Unmount and delete the named volumes' images and keys (all by default, the restored copy's too):
        a site's disks gone."""
        if not disks_enabled():
            return []
        done = []
        for vol in volumes(self.settings, names, with_restore=True):
            done += destroy_volume(vol)
        return done

    # ----- the fault ------------------------------------------------------------------------------
    def _mounted_point(self, name: str) -> Path:
        if not disks_enabled():
            raise Unsupported("filling a member's disk needs its own bounded filesystem, which only root can "
                              "mount; without root the fault would fill the machine's filesystem")
        point = mount_point(member(self.settings, name))
        if not mounted_at(point):
            raise StateDirError(f"the disk of member {name} is not mounted at {point}: run 'drill up'")
        return point

    def fill(self, name: str) -> int:
        """Write <mount>/filler until the member's filesystem is full; bytes written (by this call)."""
        point = self._mounted_point(name)
        path = point / FILLER
        written = 0
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (CHUNK, 4096, 512):
                block = b"\0" * size
                while True:
                    try:
                        n = os.write(fd, block)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
                    written += n
                    if n < size:
                        break
            with contextlib.suppress(OSError):
                os.fsync(fd)  # the blocks are really taken, not only reserved by delayed allocation
        finally:
            os.close(fd)
        return written

    def fill_to(self, name: str, percent: float) -> int:
        """Grow <mount>/filler until `percent` of the member's filesystem is in use, as `df` (and the node
        exporter: 1 - avail/size) counts it; bytes written. Already past it: nothing is written."""
        point = self._mounted_point(name)
        st = os.statvfs(point)
        size, avail = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
        wanted = avail - int(size * (1 - percent / 100.0))
        if wanted <= 0:
            return 0
        written = 0
        fd = os.open(point / FILLER, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            block = b"\0" * CHUNK
            while written < wanted:
                written += os.write(fd, block[: min(CHUNK, wanted - written)])
            os.fsync(fd)  # the blocks are taken now, not when delayed allocation gets to them
        finally:
            os.close(fd)
        return written

    def free(self, name: str) -> bool:
        """Remove the filler; False when there was none."""
        if not disks_enabled():
            return False
        point = mount_point(member(self.settings, name))
        try:
            (point / FILLER).unlink()
        except FileNotFoundError:
            return False
        return True

    def filled(self) -> list[str]:
        """Members whose filesystem holds a filler now."""
        if not disks_enabled():
            return []
        return [m.name for m in members(self.settings) if (mount_point(m) / FILLER).exists()]

    def usage(self, name: str) -> tuple[int, int]:
        """(bytes available to unprivileged users, total bytes) of the member's filesystem."""
        st = os.statvfs(self._mounted_point(name))
        return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize
