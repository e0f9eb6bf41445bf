"""Bounded filesystems for the PostgreSQL members, and the disk-full fault that fills them.

As root, each member's directory (<state>/pg/<member>, which holds PGDATA and so pg_wal) is its own
ext4 filesystem: an image file <state>/disks/<member>.img of `disk_mib` MiB, loop-mounted there. The
image is fully allocated when it is made (posix_fallocate), so filling the member's filesystem never
takes space from the filesystem the state directory lives on: the bound is paid once, at `drill up`.
`fill_disk` writes <mount>/filler (outside PGDATA) until the filesystem refuses (ENOSPC); PostgreSQL
then fails to extend its files or write WAL, as on a real full volume. `free_disk` removes the filler.

Without root nothing can be mounted: members keep plain directories and the fault is Unsupported
(filling the machine's own filesystem is not a fault a drill may inject).
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import time
from pathlib import Path

from waqiti_drill.config import Settings
from waqiti_drill.errors import CommandFailed, StateDirError, Unsupported
from waqiti_drill.platform.local.layout import MemberLocation, member, members
from waqiti_drill.platform.local.runas import RunAs, give

FILLER = "filler"
CHUNK = 1 << 20  # 1 MiB writes, then 4 KiB ones for the last blocks


def disks_enabled() -> bool:
    """Bounded filesystems need mount(2): root only."""
    return os.geteuid() == 0


def disk_mode() -> str:
    return "loop" if disks_enabled() else "none"


def image_path(settings: Settings, name: str) -> Path:
    return settings.state_dir / "disks" / f"{name}.img"


def mount_point(location: MemberLocation) -> Path:
    """The filesystem holding the member's PGDATA is mounted at PGDATA's parent."""
    return location.data_dir.parent


def _unescape(field: str) -> str:
    # /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounted_at(path: Path) -> bool:
    """Whether something is mounted exactly at `path` in this process's mount namespace."""
    target = str(path)
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return False
    return any(len(parts) > 4 and _unescape(parts[4]) == target for parts in (ln.split(" ") for ln in lines))


def mounts_under(path: Path) -> list[Path]:
    """Every mount point at or below `path` in this process's mount namespace."""
    root = str(path).rstrip("/") + "/"
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    points = [_unescape(parts[4]) for parts in (ln.split(" ") for ln in lines) if len(parts) > 4]
    return [Path(p) for p in points if p == root.rstrip("/") or p.startswith(root)]


def _run(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise CommandFailed(f"{what}: {' '.join(argv)} exited {result.returncode}: "
                            f"{(result.stderr or result.stdout).strip()}")


def _allocate(path: Path, size: int, truncate: bool) -> None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | (os.O_TRUNC if truncate else 0), 0o600)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise StateDirError(f"cannot allocate {size >> 20} MiB for {path}: {exc}") from None
    finally:
        os.close(fd)


class MemberDisks:
    """The members' bounded filesystems: made and mounted by `up`, unmounted by `down`."""

    def __init__(self, settings: Settings, user: RunAs) -> None:
        self.settings = settings
        self.user = user

    def ensure(self) -> list[str]:
        """Make missing images and mount every one that is not mounted (after a reboot too). Idempotent."""
        if not disks_enabled():
            return []
        done = []
        for location in members(self.settings):
            done += self._ensure_one(location)
        return done

    def _ensure_one(self, location: MemberLocation) -> list[str]:
        point = mount_point(location)
        image = image_path(self.settings, location.name)
        if mounted_at(point):
            return []
        point.mkdir(parents=True, exist_ok=True)
        if any(point.iterdir()):
            raise StateDirError(f"{point} is not empty and its filesystem {image} is not mounted: refusing to "
                                "mount over it; run 'drill down --purge' and 'drill up' to recreate the stack")
        done = []
        if not image.exists():
            self._make_image(image)
            done.append(f"made {image} ({self.settings.disk_mib} MiB ext4)")
        _run(["mount", "-o", "loop,noatime", str(image), str(point)], f"mounting the disk of {location.name}")
        os.chmod(point, 0o700)
        give(self.user, point)
        done.append(f"mounted {image} at {point}")
        return done

    def _make_image(self, image: Path) -> None:
        image.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(image.parent, 0o700)
        tmp = image.with_name(image.name + ".tmp")
        size = self.settings.disk_mib << 20
        _allocate(tmp, size, truncate=True)
        # -m 0: no blocks reserved for root, so "full" is full for the database user too. nodiscard, and
        # no lazy initialisation at the first mount: the loop device turns discards and zeroing into holes
        # punched in the image, which would give blocks back to the outer filesystem.
        _run(["mkfs.ext4", "-q", "-F", "-m", "0", "-E", "nodiscard,lazy_itable_init=0,lazy_journal_init=0",
              "-L", image.stem[:16], str(tmp)], f"making {image}")
        _allocate(tmp, size, truncate=False)  # whatever was given back is taken again: the bound is paid now
        os.replace(tmp, image)

    def unmount_all(self, timeout: float = 10.0) -> list[str]:
        """Unmount every member filesystem of this stack (processes must be gone). Idempotent."""
        done = []
        for location in members(self.settings):
            point = mount_point(location)
            if not mounted_at(point):
                continue
            deadline = time.monotonic() + timeout
            while True:
                result = subprocess.run(["umount", str(point)], capture_output=True, text=True, timeout=60)
                if result.returncode == 0 or not mounted_at(point):
                    break
                if time.monotonic() > deadline:
                    # still busy (a process of ours in another mount namespace not yet reaped): detach it
                    # now; the kernel releases the loop device when the last user is gone
                    _run(["umount", "-l", str(point)], f"detaching the disk of {location.name}")
                    break
                time.sleep(0.2)
            done.append(f"unmounted {point}")
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
