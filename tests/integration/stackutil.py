"""Helpers to run `drill` against a stack of the tests' own, on shifted ports in a /tmp state directory."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from waqiti_drill.config import Ports, load_settings

DRILL = [sys.executable, "-m", "waqiti_drill.cli"]


def shifted_ports_toml(offset: int) -> str:
    """Every default port moved by `offset` (plus DRILL_TEST_PORT_SHIFT, so two checkouts on one
    machine can run their suites at once, e.g. -10000 keeps clear of the ephemeral range)."""
    offset += int(os.environ.get("DRILL_TEST_PORT_SHIFT", "0"))
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


def new_state_dir(prefix: str) -> Path:
    # mkdtemp makes a 0700 directory the database user could not enter; the stack lives inside it.
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    base.chmod(0o755)
    return base


def faults_configuration(stack: StackUnderTest, platform, run_dir: Path | None) -> dict:  # noqa: ANN001
    """The chaostoolkit configuration that points the real actions at the test's stack and run directory, with
    `platform` adopted as the one they act on (as a drill adopts its own)."""
    from waqiti_drill.faults import context

    config = str(stack.config)
    context.adopt(stack.settings, config, platform)
    return context.configuration_for(stack.settings, config, run_dir)


class AckedWrites:
    """Waits on the clients' acknowledged writes in a run's history (the checker's parser, read as it grows),
    instead of sleeping a fixed time and hoping the load made some."""

    def __init__(self, history_dir: Path) -> None:
        from waqiti_drill.checker.load import HistoryTail

        self.tail = HistoryTail(history_dir)

    def wait_more(self, count: int, timeout: float = 60.0) -> int:
        from waqiti_drill.waiting import wait_until

        base = self.tail.poll().acked
        return wait_until(lambda: ((n := self.tail.poll().acked) >= base + count, n), timeout,
                          f"{count} more acknowledged writes than {base} in the history", interval=0.1)
