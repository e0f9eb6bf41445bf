"""fscrypt's ioctl numbers and structs as packed by hand, against linux/fscrypt.h (values from gcc on the
kernel header: sizeof and the FS_IOC_* macros), and the policy decoding the at-rest view relies on."""

from __future__ import annotations

import struct

import pytest

from waqiti_drill.platform.local import fscrypt


def test_ioctl_numbers_are_the_kernel_headers():
    assert fscrypt.SET_POLICY == 0x800C6613
    assert fscrypt.GET_POLICY_EX == 0xC0096616
    assert fscrypt.ADD_KEY == 0xC0506617
    assert fscrypt.REMOVE_KEY == 0xC0406618
    assert fscrypt.GET_KEY_STATUS == 0xC080661A


def test_struct_sizes_are_the_kernel_headers():
    assert struct.calcsize(fscrypt.POLICY_V2_FORMAT) == 24
    assert struct.calcsize(fscrypt.KEY_SPEC_FORMAT) == 40
    assert struct.calcsize(fscrypt.ADD_KEY_HEADER) == 80
    assert struct.calcsize(fscrypt.REMOVE_KEY_FORMAT) == 64
    assert struct.calcsize(fscrypt.KEY_STATUS_FORMAT) == 128


def test_policy_v2_is_aes_256_xts_contents_and_cts_names_padded_to_32():
    ident = bytes(range(16))
    packed = fscrypt.pack_policy_v2(ident)
    assert packed[:8] == bytes([2, 1, 4, 3, 0, 0, 0, 0])  # version, contents, filenames, flags, reserved
    assert packed[8:] == ident


def test_a_key_identifier_of_the_wrong_size_is_refused():
    with pytest.raises(ValueError, match="16 bytes, not 8"):
        fscrypt.pack_policy_v2(b"12345678")


def test_key_specifier_by_identifier_is_type_2_and_zero_padded():
    spec = fscrypt.key_spec(b"\xaa" * 16)
    assert struct.unpack_from("<II", spec) == (2, 0)
    assert spec[8:24] == b"\xaa" * 16 and spec[24:] == bytes(16)


def test_policy_reported_by_the_kernel_is_decoded():
    buffer = struct.pack("<Q", 24) + fscrypt.pack_policy_v2(bytes.fromhex("00112233445566778899aabbccddeeff"))
    policy = fscrypt.unpack_policy(buffer)
    assert policy is not None
    assert (policy.version, policy.contents, policy.filenames, policy.flags) == (2, "AES-256-XTS", "AES-256-CTS", 3)
    assert policy.key_identifier == "00112233445566778899aabbccddeeff"
    assert policy.is_aes256_v2()


def test_weaker_or_v1_policies_are_not_taken_for_aes_256_v2():
    weak = struct.pack("<Q", 24) + struct.pack(fscrypt.POLICY_V2_FORMAT, 2, 9, 9, 0, bytes(16))  # Adiantum
    policy = fscrypt.unpack_policy(weak)
    assert policy is not None and policy.contents == "Adiantum" and not policy.is_aes256_v2()
    v1 = struct.pack("<Q", 12) + bytes([0, 1, 4, 0]) + bytes(8) + bytes(12)
    assert fscrypt.unpack_policy(v1) is None


def test_master_key_length_is_checked_before_any_ioctl(tmp_path):
    with pytest.raises(ValueError, match="16 to 64 bytes, not 65"):
        fscrypt.add_key(tmp_path, b"k" * 65)


def test_an_unencrypted_directory_has_no_policy(tmp_path):
    assert fscrypt.get_policy(tmp_path) is None
