"""What is encrypted at rest, as the kernel reports it, and a scan of the raw images for plaintext.

For the security drill: `view` reads, for each volume (volumes.py: pg1, pg2, pg3, redis, and restore while
a restored copy exists), the policy the kernel reports on the directories that hold data (each member's
directory, PGDATA and pg_wal; Redis's directory and every node's; the copy's) and the key's status in the
filesystem's keyring. It changes nothing.

`scan_raw` is the proof that the policy does what it says: the mounted filesystem is synced (syncfs),
then the image file, the bytes a stolen volume would hold, is read in chunks (overlapping by the
needle's length less one, so a needle across a chunk boundary is still found) and searched for the
needle. `write_control` puts a different needle into a file outside the encrypted directory on the
same filesystem, so the very same scan is shown to find plaintext on that very image: a scan that
found nothing because it read the wrong bytes would fail its control. Use a fresh random needle for
each (deleted files leave their blocks behind, so an old needle may still be found).

Without root nothing is encrypted: every directory is reported with no policy, and there is no image
to scan (Unsupported).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from waqiti_drill.config import Settings
from waqiti_drill.errors import StateDirError, Unsupported
from waqiti_drill.platform.local import fscrypt
from waqiti_drill.platform.local.layout import member
from waqiti_drill.platform.local.mounts import disks_enabled, mounted_at
from waqiti_drill.platform.local.volumes import REDIS, RESTORE, Volume, volumes

CHUNK = 8 << 20
CONTROL_FILE = "control-plaintext"
NEEDS_ROOT = "at-rest encryption needs root: PostgreSQL's and Redis's data are stored unencrypted"


@dataclass(frozen=True)
class DirectoryPolicy:
    """One directory and its encryption policy as the kernel reports it (None fields: not encrypted)."""

    path: str
    version: int | None = None
    contents: str | None = None  # e.g. AES-256-XTS
    filenames: str | None = None  # e.g. AES-256-CTS
    key_identifier: str | None = None  # hex; identifies the key, reveals nothing of it

    @property
    def aes256(self) -> bool:
        return (self.version, self.contents, self.filenames) == (2, "AES-256-XTS", "AES-256-CTS")


@dataclass(frozen=True)
class VolumeAtRest:
    name: str  # pg1, pg2, pg3, redis
    image: str  # the raw image file ("" without root)
    mount_point: str  # where the stack uses it
    mounted: bool
    key_status: str  # "present", "absent", "incompletely removed", "not mounted" or "none" (no root)
    directories: list[DirectoryPolicy] = field(default_factory=list)

    @property
    def encrypted(self) -> bool:
        """Every data directory has the AES-256 v2 policy and the key is in the filesystem's keyring."""
        return bool(self.directories) and all(d.aes256 for d in self.directories) and self.key_status == "present"


@dataclass(frozen=True)
class RawScan:
    volume: str
    image: str
    bytes_scanned: int
    found: bool


def data_directories(settings: Settings, vol: Volume) -> list[Path]:
    """The directories that hold the volume's data, as the stack sees them (those that exist)."""
    if vol.name == REDIS:
        nodes = sorted(p for p in vol.target.iterdir() if p.is_dir()) if vol.target.is_dir() else []
        paths = [vol.target, *nodes]
    else:
        data = vol.target / "data" if vol.name == RESTORE else member(settings, vol.name).data_dir
        paths = [vol.target, data, data / "pg_wal"]
    return [p for p in paths if p.is_dir()]


def directory_policy(path: Path) -> DirectoryPolicy:
    policy = fscrypt.get_policy(path)
    if policy is None:
        return DirectoryPolicy(str(path))
    return DirectoryPolicy(str(path), policy.version, policy.contents, policy.filenames, policy.key_identifier)


def _key_status(vol: Volume, dirs: list[DirectoryPolicy]) -> str:
    if not mounted_at(vol.root):
        return "not mounted"
    ident = next((d.key_identifier for d in dirs if d.key_identifier), None)
    return fscrypt.key_status(vol.root, bytes.fromhex(ident)) if ident else "absent"


def _present(settings: Settings) -> list[Volume]:
    """The stack's volumes, and the restored copy's while it exists."""
    return [v for v in volumes(settings, with_restore=True) if v.name != RESTORE or v.target.is_dir()]


def view(settings: Settings) -> list[VolumeAtRest]:
    """Per volume: image, mount point, the data directories' policies and the key's status. Read-only."""
    out = []
    for vol in _present(settings):
        dirs = [directory_policy(p) for p in data_directories(settings, vol)]
        if not disks_enabled():
            out.append(VolumeAtRest(vol.name, "", str(vol.target), False, "none", dirs))
            continue
        out.append(VolumeAtRest(vol.name, str(vol.image), str(vol.target), mounted_at(vol.target),
                                _key_status(vol, dirs), dirs))
    return out


def find_in_file(path: Path, needle: bytes, chunk: int = CHUNK) -> tuple[int, bool]:
    """(bytes read, found) for `needle` in the file, read in chunks that overlap by len(needle) - 1."""
    if not needle:
        raise ValueError("an empty needle is found everywhere: give the bytes to look for")
    keep, tail, scanned = len(needle) - 1, b"", 0
    with open(path, "rb", buffering=0) as fh:
        while block := fh.read(chunk):
            scanned += len(block)
            if needle in tail + block:
                return scanned, True
            tail = block[-keep:] if keep else b""
    return scanned, False


def _images(settings: Settings) -> list[Volume]:
    if not disks_enabled():
        raise Unsupported(NEEDS_ROOT)
    present = [v for v in _present(settings) if v.image.exists()]
    if not present:
        raise StateDirError(f"no disk image under {settings.state_dir / 'disks'}: run 'drill up'")
    return present


def scan_raw(settings: Settings, needle: bytes) -> list[RawScan]:
    """Per volume: sync its filesystem, then search the raw image for `needle`."""
    out = []
    for vol in _images(settings):
        if mounted_at(vol.root):
            fscrypt.syncfs(vol.root)
        scanned, found = find_in_file(vol.image, needle)
        out.append(RawScan(vol.name, str(vol.image), scanned, found))
    return out


def write_control(settings: Settings, needle: bytes) -> list[str]:
    """The needle in a file outside the encrypted directory of every mounted volume, fsynced; the paths."""
    written = []
    for vol in _images(settings):
        if not mounted_at(vol.root):
            continue
        path = vol.root / CONTROL_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, needle)
            os.fsync(fd)
        finally:
            os.close(fd)
        written.append(str(path))
    return written
