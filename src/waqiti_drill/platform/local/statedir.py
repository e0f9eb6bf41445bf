"""The state directory's identity: a marker saying which tool, layout and ports created it.

A directory that is not ours is never touched; one created by another layout version, with other
ports or on another network (loopback, or namespaces on a given subnet) is refused with a message
saying how to recreate it, since its data (Patroni's DCS addresses, Redis's nodes.conf, the
certificate's addresses) is bound to the ports and addresses it was created with.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from waqiti_drill.config import Settings
from waqiti_drill.errors import StateDirError
from waqiti_drill.platform.local.disks import disk_mode
from waqiti_drill.platform.local.netplan import plan_network

TOOL = "waqiti-drill"
# 2: members may live in network namespaces; the marker records the network (mode and subnet), to
# which the certificate, Patroni's addresses in the DCS and pg_hba are bound.
# 3: as root, each member's directory is a loop-mounted ext4 image (<state>/disks/<member>.img); the marker
# records the disk mode and size, since the data lives inside those images; and (since at-rest encryption,
# volumes.py) their encryption, so a directory with plaintext images is refused.
LAYOUT_VERSION = 3
MARKER = "state.json"


def read_marker(state_dir: Path) -> dict | None:
    """The marker, None for a missing or empty directory; StateDirError for anything not ours."""
    if not state_dir.exists():
        return None
    if not state_dir.is_dir():
        raise StateDirError(f"state directory {state_dir} is not a directory")
    marker = state_dir / MARKER
    if not marker.exists():
        if any(state_dir.iterdir()):
            raise StateDirError(
                f"{state_dir} is not empty and was not created by {TOOL} (no {MARKER}); "
                "refusing to use it: choose another --state-dir"
            )
        return None
    try:
        data = json.loads(marker.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise StateDirError(f"{marker}: unreadable ({exc}); remove {state_dir} by hand") from None
    if not isinstance(data, dict) or data.get("tool") != TOOL:
        raise StateDirError(f"{marker}: not a {TOOL} state directory; choose another --state-dir")
    return data


def check_compatible(settings: Settings, data: dict) -> None:
    if data.get("layout") != LAYOUT_VERSION:
        raise StateDirError(
            f"{settings.state_dir} was created by layout {data.get('layout')} of {TOOL}, this is layout "
            f"{LAYOUT_VERSION}: run 'drill down --purge' and 'drill up' to recreate it"
        )
    network, created_network = network_record(settings), data.get("network")
    if created_network != network:
        raise StateDirError(
            f"{settings.state_dir} was created with network {_show(created_network)}, now {_show(network)}: "
            "use the same network setting, or 'drill down --purge' to recreate the stack"
        )
    disks, created_disks = disk_record(settings), data.get("disks")
    if created_disks != disks:
        raise StateDirError(
            f"{settings.state_dir} was created with member disks {_show_disks(created_disks)}, now "
            f"{_show_disks(disks)}: run as the same user with the same disk_mib, or 'drill down --purge' "
            "to recreate the stack"
        )
    created_ports = data.get("ports", {})
    current = settings.ports.all()
    changed = sorted(k for k in current if created_ports.get(k) != current[k])
    if changed:
        k = changed[0]
        raise StateDirError(
            f"{settings.state_dir} was created with {k}={created_ports.get(k)}, now {current[k]}: "
            "use the same ports, or 'drill down --purge' to recreate the stack"
        )


def network_record(settings: Settings) -> dict[str, str | None]:
    plan = plan_network(settings)
    return {"mode": plan.mode, "subnet": plan.subnet}


AT_REST = "fscrypt-v2 AES-256-XTS/AES-256-CTS"  # what the loop disks are encrypted with (volumes.py)


def disk_record(settings: Settings) -> dict[str, object]:
    """The member disks' mode and size and, for loop disks, their encryption at rest (a directory made
    before it holds plaintext images, and is refused rather than used half-encrypted)."""
    mode = disk_mode()
    if mode == "none":
        return {"mode": mode, "mib": None}
    return {"mode": mode, "mib": settings.disk_mib, "encryption": AT_REST}


def _show_disks(record: object) -> str:
    if not isinstance(record, dict):
        return "(none)"
    if record.get("mode") == "none":
        return "plain directories"
    return f"{record.get('mode')} {record.get('mib')} MiB, " + (
        f"encrypted ({record['encryption']})" if record.get("encryption") else "not encrypted")


def _show(record: object) -> str:
    if not isinstance(record, dict):
        return "(none)"
    return f"{record.get('mode')}" + (f" {record['subnet']}" if record.get("subnet") else "")


def ensure_state_dir(settings: Settings) -> None:
    """Create the directory and its marker, or check an existing one is ours and compatible."""
    data = read_marker(settings.state_dir)
    if data is not None:
        check_compatible(settings, data)
        return
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.state_dir, 0o755)  # the run user must traverse it
    marker = {
        "tool": TOOL,
        "layout": LAYOUT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "ports": settings.ports.all(),
        "network": network_record(settings),
        "disks": disk_record(settings),
    }
    tmp = settings.state_dir / (MARKER + ".tmp")
    tmp.write_text(json.dumps(marker, indent=1))
    os.replace(tmp, settings.state_dir / MARKER)


@contextlib.contextmanager
def state_lock(state_dir: Path, what: str) -> Iterator[None]:
    """Serialise commands that change the stack; a second one fails at once instead of racing."""
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another drill command"
            raise StateDirError(f"{state_dir} is locked by {holder}; wait for it or stop it") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"'{what}' (pid {os.getpid()})".encode(), 0)
        yield
    finally:
        os.close(fd)
