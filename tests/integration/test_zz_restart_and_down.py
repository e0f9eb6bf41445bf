"""Runs last (file order): recovery after every process died, then `drill down` leaving nothing behind."""

from __future__ import annotations

import signal
import time

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_up_recovers_after_every_process_was_killed(stack):
    platform = stack.platform()
    killed = platform.supervisor.signal_under(stack.state_dir, signal.SIGKILL)
    assert len(killed) >= 11  # etcd, haproxy, weed, 6 redis, 3 patroni, and the postgres trees
    time.sleep(0.5)
    assert platform.supervisor.pids_under(stack.state_dir) == []
    result = stack.drill("up")
    assert result.returncode == 0, result.stderr
    roles = sorted(m.role for m in platform.postgres_members())
    assert roles == ["primary", "replica", "sync_standby"]
    assert platform.redis_status().cluster_state == "ok"


def test_down_leaves_no_process(stack):
    platform = stack.platform()
    assert platform.supervisor.pids_under(stack.state_dir)
    result = stack.drill("down")
    assert result.returncode == 0, result.stderr
    assert platform.supervisor.pids_under(stack.state_dir) == []
    assert all(platform.supervisor.pid_of(n) is None for n in platform.supervisor.names())
    again = stack.drill("down")
    assert again.returncode == 0
