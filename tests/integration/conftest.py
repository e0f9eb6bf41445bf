"""One real embedded stack for the whole integration session, on its own ports and state directory.

The ports are shifted by 1000 from the defaults so a developer's own stack on the default ports is
never touched. The stack is started through the `drill` command, exactly as a user would.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from waqiti_drill.config import Ports, load_settings

DRILL = [sys.executable, "-m", "waqiti_drill.cli"]


def shifted_ports_toml(offset: int) -> str:
    lines = ["[ports]"]
    for f in dataclasses.fields(Ports):
        value = getattr(Ports(), f.name)
        if isinstance(value, tuple):
            lines.append(f"{f.name} = [{', '.join(str(v + offset) for v in value)}]")
        else:
            lines.append(f"{f.name} = {value + offset}")
    return "\n".join(lines) + "\n"


@dataclasses.dataclass
class StackUnderTest:
    env: dict[str, str]
    state_dir: Path
    config: Path

    def drill(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*DRILL, *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    @property
    def settings(self):  # noqa: ANN201
        return load_settings(str(self.state_dir), str(self.config))

    def platform(self):  # noqa: ANN201
        from waqiti_drill.platform.local.stack import LocalPlatform

        return LocalPlatform(self.settings)


def _new_state_dir(prefix: str) -> Path:
    # mkdtemp makes a 0700 directory the database user could not enter; the stack lives inside it.
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    base.chmod(0o755)
    return base


@pytest.fixture(scope="session")
def stack() -> StackUnderTest:
    base = _new_state_dir("wd-it-")
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
