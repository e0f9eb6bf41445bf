"""One real embedded stack for the whole integration session, on its own ports and state directory.

The ports are shifted by 1000 from the defaults so a developer's own stack on the default ports is
never touched. The stack is started through the `drill` command, exactly as a user would.
"""

from __future__ import annotations

import os

import pytest

from tests.integration.stackutil import StackUnderTest, new_state_dir, shifted_ports_toml


@pytest.fixture(scope="session")
def stack() -> StackUnderTest:
    base = new_state_dir("wd-it-")
    config = base / "drill.toml"
    config.write_text(shifted_ports_toml(1000))
    env = dict(os.environ, DRILL_STATE_DIR=str(base / "state"), DRILL_CONFIG=str(config))
    sut = StackUnderTest(env=env, state_dir=base / "state", config=config)
    up = sut.drill("up")
    if up.returncode != 0:
        sut.drill("down", "--purge")
        pytest.fail(f"drill up failed ({up.returncode}): {up.stderr.strip()}")
    sut.up_output = up.stdout  # type: ignore[attr-defined]
    yield sut
    sut.drill("down", "--purge")
