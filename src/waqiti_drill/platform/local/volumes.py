"""Encrypted ext4 volumes (root only): where each PostgreSQL member's and Redis's files live at rest.

One volume per member (pg1, pg2, pg3), one for all Redis nodes (redis), and one for the copy restored
beside the cluster while it exists (restore, made by restore.py and deleted with the copy):

    <state>/disks/<name>.img         the ext4 image (`disk_mib` MiB, allocated up front, made with -O encrypt)
    <state>/disks/mnt/<name>/        the image's own mount: lost+found, the scan's control file, and
    <state>/disks/mnt/<name>/enc/    the encrypted directory (fscrypt policy v2, AES-256-XTS contents,
                                     AES-256-CTS names), bind-mounted where the stack uses it:
    <state>/pg/<member>/             (Patroni config, PGDATA and so pg_wal, socket, the disk-full filler)
    <state>/redis/                   (every node's AOF, RDB and nodes.conf, redis-cli's working
                                     directories and the Redis backup job's staging)
    <state>/restore/                 (the restored copy's PGDATA and socket)
    <state>/keys/<name>.key          its master key: 64 random bytes, mode 600, owned by the harness user

Why a bind mount of an encrypted subdirectory: ext4 cannot encrypt a filesystem's root directory, and
a policy set on PGDATA itself would not survive the paths that recreate PGDATA (Patroni's reinit and
its basebackup remove the directory and pg_basebackup makes a new one). Everything created under an
encrypted directory inherits its policy, so with the whole member directory (and the whole Redis
directory) encrypted, no path that recreates data, not Patroni's initdb, clone or reinit, not
pgBackRest's restore after a site loss, not a wiped and recreated Redis node, can write plaintext to
the image, and the paths the rest of the stack uses are unchanged.

Keys are added to the filesystem's keyring after every mount (kernel keys do not survive an unmount or a
reboot) and removed before the unmount. Deleting an image deletes its key too, so whatever a deleted
image's blocks held is unreadable for good.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from waqiti_drill.config import PG_MEMBERS, Settings
from waqiti_drill.errors import StateDirError
from waqiti_drill.platform.local import fscrypt
from waqiti_drill.platform.local.mounts import mounted_at, run, unmount
from waqiti_drill.platform.local.runas import RunAs, give

KEY_BYTES = 64  # fscrypt v2 master keys may be longer than AES-256-XTS's 64-byte key; 64 is the usual size
REDIS = "redis"
RESTORE = "restore"
ENCRYPTED_DIR = "enc"


@dataclass(frozen=True)
class Volume:
    name: str  # pg1, pg2, pg3, redis or restore
    image: Path
    root: Path  # where the image itself is mounted (its root directory cannot be encrypted)
    target: Path  # where the stack uses it: a bind mount of the encrypted directory
    key: Path

    @property
    def encrypted(self) -> Path:
        return self.root / ENCRYPTED_DIR


def volume_names(with_restore: bool = False) -> list[str]:
    """The volumes `up` mounts; with_restore adds the restored copy's, which exists only with the copy."""
    return [*PG_MEMBERS, REDIS, *([RESTORE] if with_restore else [])]


def volume(settings: Settings, name: str) -> Volume:
    if name not in volume_names(with_restore=True):
        from waqiti_drill.errors import InvalidConfig

        raise InvalidConfig(f"unknown volume '{name}'; valid: {', '.join(volume_names(with_restore=True))}")
    state = settings.state_dir
    # where the stack uses each: layout.py's member base, redis_cluster.py's and restore.py's directories
    target = {REDIS: state / "redis", RESTORE: state / "restore"}.get(name, state / "pg" / name)
    return Volume(name, state / "disks" / f"{name}.img", state / "disks" / "mnt" / name, target,
                  state / "keys" / f"{name}.key")


def volumes(settings: Settings, names: list[str] | None = None, with_restore: bool = False) -> list[Volume]:
    return [volume(settings, n) for n in (names if names is not None else volume_names(with_restore))]


# ----- keys ------------------------------------------------------------------------------------------
def new_key(path: Path) -> None:
    """A fresh random master key, mode 600 (written before the image that needs it is used)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, os.urandom(KEY_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_key(vol: Volume) -> bytearray:
    """The volume's master key (a bytearray the caller wipes); a missing or damaged key file is one line."""
    try:
        fd = os.open(vol.key, os.O_RDONLY)
    except FileNotFoundError:
        raise StateDirError(f"the key of volume {vol.name} ({vol.key}) is missing, so {vol.image} cannot be "
                            "read: restore the key file, or 'drill down --purge' to recreate the stack") from None
    try:
        key = bytearray(os.read(fd, KEY_BYTES + 1))
    finally:
        os.close(fd)
    if len(key) != KEY_BYTES:
        raise StateDirError(f"the key file {vol.key} holds {len(key)} bytes, not {KEY_BYTES}: it is damaged")
    return key


def unlock(vol: Volume) -> bytes:
    """Add the volume's key to its mounted filesystem; returns the key's identifier."""
    key = read_key(vol)
    try:
        return fscrypt.add_key(vol.root, key)
    except OSError as exc:
        if exc.errno == errno.EOPNOTSUPP:
            raise StateDirError(f"{vol.image} was made without ext4's encrypt feature (before at-rest encryption): "
                                "'drill down --purge' and 'drill up' recreate it encrypted") from None
        raise
    finally:
        key[:] = bytes(len(key))


def lock(vol: Volume) -> int:
    """Remove the volume's key from its filesystem (before the unmount); the kernel's removal flags."""
    policy = fscrypt.get_policy(vol.encrypted) if vol.encrypted.exists() else None
    if policy is None:
        return 0
    return fscrypt.remove_key(vol.root, bytes.fromhex(policy.key_identifier))


def prepare_encrypted_dir(vol: Volume, identifier: bytes, user: RunAs) -> None:
    """The encrypted directory: made with the policy on a fresh image, checked on a used one."""
    enc = vol.encrypted
    if not enc.exists():
        stray = [p.name for p in vol.root.iterdir() if p.name != "lost+found" and not p.name.startswith("control-")]
        if stray:
            raise StateDirError(f"{vol.image} holds unencrypted data ({', '.join(sorted(stray)[:3])}; made before "
                                "at-rest encryption): 'drill down --purge' and 'drill up' recreate it encrypted")
        enc.mkdir(mode=0o700)
        fscrypt.set_policy(enc, identifier)
        give(user, enc)
        return
    policy = fscrypt.get_policy(enc)
    if policy is None or not policy.is_aes256_v2():
        raise StateDirError(f"{enc} is not encrypted with policy v2 AES-256-XTS/AES-256-CTS: 'drill down --purge' "
                            "and 'drill up' recreate it")
    if policy.key_identifier != identifier.hex():
        raise StateDirError(f"{enc} is encrypted with another key than {vol.key} holds: that key file does not "
                            "belong to this image")


# ----- images and mounts -------------------------------------------------------------------------------
def _allocate(path: Path, size: int, truncate: bool) -> None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | (os.O_TRUNC if truncate else 0), 0o600)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise StateDirError(f"cannot allocate {size >> 20} MiB for {path}: {exc}") from None
    finally:
        os.close(fd)


def make_image(image: Path, mib: int) -> None:
    image.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(image.parent, 0o700)
    tmp = image.with_name(image.name + ".tmp")
    size = mib << 20
    _allocate(tmp, size, truncate=True)
    # -O encrypt: ext4 native encryption. -m 0: no blocks reserved for root, so "full" is full for the
    # database user too. nodiscard, and no lazy initialisation at the first mount: the loop device turns
    # discards and zeroing into holes punched in the image, which would give blocks back to the outer
    # filesystem.
    run(["mkfs.ext4", "-q", "-F", "-O", "encrypt", "-m", "0", "-E",
         "nodiscard,lazy_itable_init=0,lazy_journal_init=0", "-L", image.stem[:16], str(tmp)], f"making {image}")
    _allocate(tmp, size, truncate=False)  # whatever was given back is taken again: the bound is paid now
    os.replace(tmp, image)


def mount_volume(vol: Volume, mib: int, user: RunAs) -> list[str]:
    """Make the image (and its key) if missing, mount it, add its key, bind its encrypted directory at
    the target. Idempotent; refuses to mount over a non-empty target."""
    if mounted_at(vol.target):
        return []
    vol.target.mkdir(parents=True, exist_ok=True)
    if any(vol.target.iterdir()):
        raise StateDirError(f"{vol.target} is not empty and its filesystem {vol.image} is not mounted: refusing to "
                            "mount over it; run 'drill down --purge' and 'drill up' to recreate the stack")
    done = []
    if not mounted_at(vol.root):
        if not vol.image.exists():
            make_image(vol.image, mib)
            new_key(vol.key)  # a new image gets a new key, whatever an old key file held
            done.append(f"made {vol.image} ({mib} MiB ext4, encrypted)")
        vol.root.mkdir(parents=True, exist_ok=True)
        run(["mount", "-o", "loop,noatime", str(vol.image), str(vol.root)], f"mounting {vol.image}")
        os.chmod(vol.root, 0o700)
    prepare_encrypted_dir(vol, unlock(vol), user)
    run(["mount", "--bind", str(vol.encrypted), str(vol.target)], f"mounting {vol.encrypted} at {vol.target}")
    done.append(f"mounted {vol.image} at {vol.target} (encrypted: fscrypt v2, AES-256-XTS)")
    return done


def unmount_volume(vol: Volume, timeout: float = 10.0) -> list[str]:
    """Unmount the target, remove the key, unmount the image (processes using it must be gone). Idempotent."""
    done = []
    if unmount(vol.target, f"the volume {vol.name}", timeout):
        done.append(f"unmounted {vol.target}")
    if mounted_at(vol.root):
        lock(vol)
        unmount(vol.root, f"the image of {vol.name}", timeout)
        done.append(f"unmounted {vol.root}")
    return done


def destroy_volume(vol: Volume, timeout: float = 10.0) -> list[str]:
    """Unmount, then delete the image and its key: what the image's blocks held is unreadable for good."""
    unmounted = unmount_volume(vol, timeout)
    existed = vol.image.exists()
    vol.image.unlink(missing_ok=True)
    vol.key.unlink(missing_ok=True)
    if existed:
        return [f"deleted the disk image of {vol.name} and its key" + (" (unmounted first)" if unmounted else "")]
    return unmounted
