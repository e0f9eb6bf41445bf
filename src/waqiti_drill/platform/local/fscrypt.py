"""ext4 native encryption (fscrypt policy v2) through the kernel's own ioctls, from Python.

Why the ioctls and not Debian's `fscrypt` tool: `fscrypt setup` writes /etc/fscrypt.conf and a
/.fscrypt metadata directory on the root filesystem, a machine-wide change a drill harness must not
make, and the tool keeps its own protector metadata we do not need (our master keys are random bytes
in files of the state directory). The kernel interface (linux/fscrypt.h) needs nothing global: a key
is added to one filesystem's keyring (FS_IOC_ADD_ENCRYPTION_KEY), a policy naming that key's
identifier is set on an empty directory (FS_IOC_SET_ENCRYPTION_POLICY) and inherited by everything
created below it, and both can be read back (FS_IOC_GET_ENCRYPTION_POLICY_EX,
FS_IOC_GET_ENCRYPTION_KEY_STATUS). The raw key only ever travels in an ioctl argument buffer, which
is wiped afterwards; never argv, never a log.

The structs are packed by hand (little-endian x86-64/arm64 layouts from linux/fscrypt.h); the ioctl
numbers are computed with the kernel's _IOC encoding and checked against the header's values in the
unit tests.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import struct
from dataclasses import dataclass
from pathlib import Path

POLICY_V2 = 2
MODE_AES_256_XTS = 1
MODE_AES_256_CTS = 4
MODE_NAMES = {1: "AES-256-XTS", 4: "AES-256-CTS", 5: "AES-128-CBC", 6: "AES-128-CTS", 9: "Adiantum",
              10: "AES-256-HCTR2"}
FLAGS_PAD_32 = 0x03  # filenames padded to 32 bytes: their lengths leak less
KEY_SPEC_TYPE_IDENTIFIER = 2
IDENTIFIER_SIZE = 16
KEY_STATUS = {1: "absent", 2: "present", 3: "incompletely removed"}
REMOVAL_FILES_BUSY = 0x1

_IOC_WRITE, _IOC_READ = 1, 2


def _ioc(direction: int, nr: int, size: int) -> int:
    """The kernel's _IOC(dir, 'f', nr, size) encoding."""
    return (direction << 30) | (size << 16) | (ord("f") << 8) | nr


POLICY_V2_FORMAT = "<BBBB4x16s"  # struct fscrypt_policy_v2: 24 bytes
KEY_SPEC_FORMAT = "<II32s"  # struct fscrypt_key_specifier: 40 bytes
ADD_KEY_HEADER = "<40sII32x"  # struct fscrypt_add_key_arg without raw[]: 80 bytes
REMOVE_KEY_FORMAT = "<40sI20x"  # struct fscrypt_remove_key_arg: 64 bytes
KEY_STATUS_FORMAT = "<40s24xIII52x"  # struct fscrypt_get_key_status_arg: 128 bytes

# The header declares SET with struct fscrypt_policy_v1's size (12) and GET_EX with __u8[9]; the kernel
# reads the real size from the version byte / policy_size field.
SET_POLICY = _ioc(_IOC_READ, 19, 12)
GET_POLICY_EX = _ioc(_IOC_READ | _IOC_WRITE, 22, 9)
ADD_KEY = _ioc(_IOC_READ | _IOC_WRITE, 23, struct.calcsize(ADD_KEY_HEADER))
REMOVE_KEY = _ioc(_IOC_READ | _IOC_WRITE, 24, struct.calcsize(REMOVE_KEY_FORMAT))
GET_KEY_STATUS = _ioc(_IOC_READ | _IOC_WRITE, 26, struct.calcsize(KEY_STATUS_FORMAT))


@dataclass(frozen=True)
class Policy:
    """An encryption policy as the kernel reports it for one directory."""

    version: int
    contents_mode: int
    filenames_mode: int
    flags: int
    key_identifier: str  # hex

    @property
    def contents(self) -> str:
        return MODE_NAMES.get(self.contents_mode, f"mode {self.contents_mode}")

    @property
    def filenames(self) -> str:
        return MODE_NAMES.get(self.filenames_mode, f"mode {self.filenames_mode}")

    def is_aes256_v2(self) -> bool:
        return (self.version, self.contents_mode, self.filenames_mode) == (POLICY_V2, MODE_AES_256_XTS,
                                                                           MODE_AES_256_CTS)


def pack_policy_v2(identifier: bytes) -> bytes:
    """Policy v2: contents AES-256-XTS, filenames AES-256-CTS, names padded to 32 bytes."""
    _check_identifier(identifier)
    return struct.pack(POLICY_V2_FORMAT, POLICY_V2, MODE_AES_256_XTS, MODE_AES_256_CTS, FLAGS_PAD_32, identifier)


def unpack_policy(buffer: bytes) -> Policy | None:
    """A fscrypt_get_policy_ex_arg as filled by the kernel; None for a v1 policy we did not set."""
    size = struct.unpack_from("<Q", buffer)[0]
    if size != struct.calcsize(POLICY_V2_FORMAT) or buffer[8] != POLICY_V2:
        return None
    version, contents, names, flags, ident = struct.unpack_from(POLICY_V2_FORMAT, buffer, 8)
    return Policy(version, contents, names, flags, ident.hex())


def key_spec(identifier: bytes = b"") -> bytes:
    """A key specifier by identifier (empty: the kernel fills it in when the key is added)."""
    return struct.pack(KEY_SPEC_FORMAT, KEY_SPEC_TYPE_IDENTIFIER, 0, identifier.ljust(32, b"\0"))


def _check_identifier(identifier: bytes) -> None:
    if len(identifier) != IDENTIFIER_SIZE:
        raise ValueError(f"a fscrypt key identifier is {IDENTIFIER_SIZE} bytes, not {len(identifier)}")


def _open_dir(path: Path) -> int:
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY)


def add_key(mount: Path, key: bytes | bytearray) -> bytes:
    """Add a v2 master key to the filesystem mounted at `mount`; returns its identifier (16 bytes).

    Adding a key that is already there is harmless (the kernel counts one more claim by this user)."""
    if not 16 <= len(key) <= 64:
        raise ValueError(f"a fscrypt master key is 16 to 64 bytes, not {len(key)}")
    arg = bytearray(struct.pack(ADD_KEY_HEADER, key_spec(), len(key), 0))
    arg += key  # no immutable copy of the key is made here
    fd = _open_dir(mount)
    try:
        fcntl.ioctl(fd, ADD_KEY, arg)
        _kind, _, ident = struct.unpack_from(KEY_SPEC_FORMAT, arg)
        return bytes(ident[:IDENTIFIER_SIZE])
    finally:
        os.close(fd)
        arg[:] = bytes(len(arg))  # the key is not left in this buffer


def remove_key(mount: Path, identifier: bytes) -> int:
    """Remove this user's claim on the key; returns the kernel's removal status flags (FILES_BUSY when
    a file is still open). A key that is not there: 0."""
    _check_identifier(identifier)
    arg = bytearray(struct.pack(REMOVE_KEY_FORMAT, key_spec(identifier), 0))
    fd = _open_dir(mount)
    try:
        fcntl.ioctl(fd, REMOVE_KEY, arg)
    except OSError as exc:
        if exc.errno == errno.ENOKEY:
            return 0
        raise
    finally:
        os.close(fd)
    return struct.unpack_from(REMOVE_KEY_FORMAT, arg)[1]


def key_status(mount: Path, identifier: bytes) -> str:
    """"present", "absent" or "incompletely removed", as the filesystem's keyring reports it."""
    _check_identifier(identifier)
    arg = bytearray(struct.pack(KEY_STATUS_FORMAT, key_spec(identifier), 0, 0, 0))
    fd = _open_dir(mount)
    try:
        fcntl.ioctl(fd, GET_KEY_STATUS, arg)
    finally:
        os.close(fd)
    return KEY_STATUS.get(struct.unpack_from(KEY_STATUS_FORMAT, arg)[1], "unknown")


def set_policy(directory: Path, identifier: bytes) -> None:
    """Encrypt the empty `directory` (and all that will be created below it) with the key `identifier`."""
    arg = pack_policy_v2(identifier)
    fd = _open_dir(directory)
    try:
        fcntl.ioctl(fd, SET_POLICY, arg)
    finally:
        os.close(fd)


def get_policy(path: Path) -> Policy | None:
    """The policy of `path` as the kernel reports it; None when it is not encrypted (or not a v2 policy)."""
    arg = bytearray(struct.pack("<Q", 32 - 8) + bytes(24))
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.ioctl(fd, GET_POLICY_EX, arg)
    except OSError as exc:
        if exc.errno in (errno.ENODATA, errno.ENOTTY, errno.EOPNOTSUPP):
            return None  # not encrypted, or a filesystem without encryption
        raise
    finally:
        os.close(fd)
    return unpack_policy(bytes(arg))


_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def syncfs(path: Path) -> None:
    """syncfs(2) on the filesystem holding `path`: its dirty data reaches the block device (the image)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"syncfs({path}): {os.strerror(err)}")
    finally:
        os.close(fd)
