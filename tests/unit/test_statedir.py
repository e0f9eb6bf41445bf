import dataclasses
import json

import pytest

from waqiti_drill.config import Ports, Settings
from waqiti_drill.errors import StateDirError
from waqiti_drill.platform.local.statedir import ensure_state_dir, read_marker, state_lock


def test_new_directory_gets_a_marker(tmp_path):
    s = Settings(state_dir=tmp_path / "st")
    ensure_state_dir(s)
    data = read_marker(s.state_dir)
    assert data["tool"] == "waqiti-drill" and data["ports"]["haproxy_rw"] == 25432
    ensure_state_dir(s)  # idempotent


def test_foreign_directory_is_refused(tmp_path):
    (tmp_path / "somebody-elses-file").write_text("x")
    with pytest.raises(StateDirError, match="was not created by waqiti-drill"):
        ensure_state_dir(Settings(state_dir=tmp_path))


def test_stale_layout_is_refused(tmp_path):
    (tmp_path / "state.json").write_text(json.dumps({"tool": "waqiti-drill", "layout": 0, "ports": {}}))
    with pytest.raises(StateDirError, match="drill down --purge"):
        ensure_state_dir(Settings(state_dir=tmp_path))


def test_changed_ports_are_refused(tmp_path):
    ensure_state_dir(Settings(state_dir=tmp_path))
    moved = Settings(state_dir=tmp_path, ports=dataclasses.replace(Ports(), haproxy_rw=26000))
    with pytest.raises(StateDirError, match="haproxy_rw=25432, now 26000"):
        ensure_state_dir(moved)


def test_second_holder_of_the_lock_fails_at_once(tmp_path):
    with (
        state_lock(tmp_path, "drill up"),
        pytest.raises(StateDirError, match="locked by 'drill up'"),
        state_lock(tmp_path, "drill down"),
    ):
        pass


def test_changed_network_is_refused(tmp_path):
    ensure_state_dir(Settings(state_dir=tmp_path))
    assert read_marker(tmp_path)["network"] == {"mode": "loopback", "subnet": None}
    with pytest.raises(StateDirError, match=r"created with network loopback, now netns 10\.[0-9.]+/24"):
        ensure_state_dir(Settings(state_dir=tmp_path, network="netns"))


def test_layout_1_directory_is_refused_with_the_way_out(tmp_path):
    (tmp_path / "state.json").write_text(json.dumps({"tool": "waqiti-drill", "layout": 1, "ports": {}}))
    with pytest.raises(StateDirError, match="created by layout 1 of waqiti-drill, this is layout 3"):
        ensure_state_dir(Settings(state_dir=tmp_path))


def test_changed_member_disks_are_refused(tmp_path, monkeypatch):
    from waqiti_drill.platform.local import statedir

    monkeypatch.setattr(statedir, "disk_mode", lambda: "loop")
    ensure_state_dir(Settings(state_dir=tmp_path, disk_mib=1024))
    assert read_marker(tmp_path)["disks"] == {"mode": "loop", "mib": 1024, "encryption": statedir.AT_REST}
    ensure_state_dir(Settings(state_dir=tmp_path, disk_mib=1024))
    with pytest.raises(StateDirError, match=r"created with member disks loop 1024 MiB, encrypted \(fscrypt-v2 "
                       r"AES-256-XTS/AES-256-CTS\), now loop 512 MiB"):
        ensure_state_dir(Settings(state_dir=tmp_path, disk_mib=512))
    monkeypatch.setattr(statedir, "disk_mode", lambda: "none")
    with pytest.raises(StateDirError, match="now plain directories"):
        ensure_state_dir(Settings(state_dir=tmp_path, disk_mib=1024))


def test_loop_disks_made_before_encryption_at_rest_are_refused(tmp_path, monkeypatch):
    """A directory whose images hold plaintext (made before at-rest encryption) is not used half-encrypted."""
    from waqiti_drill.platform.local import statedir

    monkeypatch.setattr(statedir, "disk_mode", lambda: "loop")
    ensure_state_dir(Settings(state_dir=tmp_path, disk_mib=1024))
    marker = json.loads((tmp_path / "state.json").read_text())
    marker["disks"] = {"mode": "loop", "mib": 1024}  # as layout 3 wrote it before encryption at rest
    (tmp_path / "state.json").write_text(json.dumps(marker))
    with pytest.raises(StateDirError, match=r"loop 1024 MiB, not encrypted, now loop 1024 MiB, encrypted .*"
                       "drill down --purge"):
        ensure_state_dir(Settings(state_dir=tmp_path, disk_mib=1024))
