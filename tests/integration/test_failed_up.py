"""A `drill up` that fails after starting servers stops what it started and says where the logs are."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.integration.stackutil import StackUnderTest, new_state_dir, shifted_ports_toml

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_failed_up_leaves_no_process_and_a_one_line_error():
    base = new_state_dir("wd-fail-")
    config = base / "drill.toml"
    config.write_text(shifted_ports_toml(2000))
    # Every deadline shrunk a thousandfold: a wait times out after servers have started.
    env = dict(os.environ, DRILL_STATE_DIR=str(base / "state"), DRILL_CONFIG=str(config),
               DRILL_TIMEOUT_MULTIPLIER="0.0001")
    sut = StackUnderTest(env=env, state_dir=base / "state", config=config)
    try:
        result = sut.drill("up", timeout=120)
        assert result.returncode == 8, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr
        assert "timed out" in lines[0] and "waiting for" in lines[0] and "logs:" in lines[0]
        assert sut.platform().supervisor.pids_under(sut.state_dir) == []
    finally:
        sut.drill("down", "--purge")
        shutil.rmtree(base, ignore_errors=True)
