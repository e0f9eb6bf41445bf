"""`drill up` killed with SIGKILL half-way (servers started, cluster not formed) is recovered by the next `up`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest

from tests.integration.stackutil import DRILL, StackUnderTest, new_state_dir, shifted_ports_toml
from waqiti_drill.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_up_after_a_killed_up_recovers():
    base = new_state_dir("wd-crash-")
    config = base / "drill.toml"
    config.write_text(shifted_ports_toml(3000))
    env = dict(os.environ, DRILL_STATE_DIR=str(base / "state"), DRILL_CONFIG=str(config))
    sut = StackUnderTest(env=env, state_dir=base / "state", config=config)
    try:
        first = subprocess.Popen([*DRILL, "up"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pidfile = sut.state_dir / "run" / "patroni-pg1.pid"
        wait_until(lambda: (pidfile.exists(), "no Patroni pidfile yet"), 60, "the first up to start Patroni")
        time.sleep(1.0)  # Patroni is bootstrapping and the Redis Cluster is being formed
        first.send_signal(signal.SIGKILL)
        first.wait()
        second = sut.drill("up")
        assert second.returncode == 0, second.stderr
        platform = sut.platform()
        assert sorted(m.role for m in platform.postgres_members()) == ["primary", "replica", "sync_standby"]
        status = platform.redis_status()
        assert status.cluster_state == "ok" and status.slots_covered == 16384
        assert sum(1 for n in status.nodes if n.role == "master") == 3
    finally:
        sut.drill("down", "--purge")
        shutil.rmtree(base, ignore_errors=True)
