"""Runs last (file order): recovery after every process died, then `drill down` leaving nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from waqiti_drill.platform.local.disks import MemberDisks, disks_enabled, mount_point, mounted_at, mounts_under
from waqiti_drill.platform.local.layout import members
from waqiti_drill.platform.local.netns import StackNetwork
from waqiti_drill.platform.local.netplan import NETNS_HOSTS_ROOT
from waqiti_drill.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _wait_all_gone(platform, state_dir: Path) -> None:
    """Every process SIGKILLed has exited: the kernel reaps them asynchronously, so a fixed sleep is a guess
    that a busy machine loses; the wait is bounded and says which pids were still there."""
    def gone() -> tuple[bool, list[int]]:
        left = platform.supervisor.pids_under(state_dir)
        return not left, left

    wait_until(gone, 10.0, f"every process under {state_dir} to exit after SIGKILL", interval=0.05)


def test_up_recovers_after_every_process_was_killed(stack):
    platform = stack.platform()
    killed = platform.supervisor.signal_under(stack.state_dir, signal.SIGKILL)
    assert len(killed) >= 11  # etcd, haproxy, weed, 6 redis, 3 patroni, and the postgres trees
    _wait_all_gone(platform, stack.state_dir)
    result = stack.drill("up")
    assert result.returncode == 0, result.stderr
    roles = sorted(m.role for m in platform.postgres_members())
    assert roles == ["primary", "replica", "sync_standby"]
    assert platform.redis_status().cluster_state == "ok"


def test_up_after_a_reboot_recreates_the_network(stack):
    platform = stack.platform()
    net = platform.context().net
    if not net.isolated:
        pytest.skip("members run on loopback (not root): there is no network to lose")
    platform.supervisor.signal_under(stack.state_dir, signal.SIGKILL)
    _wait_all_gone(platform, stack.state_dir)
    StackNetwork(net).remove()  # what a reboot does: namespaces and bridge are gone, the state is not
    assert StackNetwork(net).describe() == []
    if disks_enabled():  # ... and the members' filesystems are no longer mounted
        MemberDisks(stack.settings, platform.user).unmount_all()
        assert mounts_under(stack.state_dir) == []
    result = stack.drill("up")
    assert result.returncode == 0, result.stderr
    assert len(StackNetwork(net).namespaces()) == 3
    assert sorted(m.role for m in platform.postgres_members()) == ["primary", "replica", "sync_standby"]
    assert {m.host for m in platform.postgres_members()} == {m.address for m in net.members}
    if disks_enabled():
        assert all(mounted_at(mount_point(m)) for m in members(stack.settings))


def _ours(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if prefix in line]


def test_down_leaves_no_process(stack):
    platform = stack.platform()
    assert platform.supervisor.pids_under(stack.state_dir)
    result = stack.drill("down")
    assert result.returncode == 0, result.stderr
    assert platform.supervisor.pids_under(stack.state_dir) == []
    assert all(platform.supervisor.pid_of(n) is None for n in platform.supervisor.names())
    assert mounts_under(stack.state_dir) == []  # the members' filesystems are unmounted
    again = stack.drill("down")
    assert again.returncode == 0
    _assert_no_network_left(stack.platform().context().net.prefix)


def _assert_no_network_left(prefix: str) -> None:
    """No namespace, interface, iptables rule or hosts file named after this stack remains."""
    if os.geteuid() != 0:
        return  # only root makes network namespaces
    run = lambda *argv: subprocess.run(argv, capture_output=True, text=True, check=True).stdout  # noqa: E731
    assert _ours(run("ip", "netns", "list"), prefix) == []
    assert _ours(run("ip", "link", "show"), prefix) == []
    assert _ours(run("iptables-save"), prefix) == []
    assert list(Path(NETNS_HOSTS_ROOT).glob(prefix + "*")) == []
