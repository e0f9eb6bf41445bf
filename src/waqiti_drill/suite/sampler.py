"""roles.jsonl: the PostgreSQL members' roles sampled about every 0.5 s while a scenario runs.

The evidence report draws a role timeline from it (who was primary when). A member that does not answer
is "down"; a sample that cannot be taken at all records every known member as "unknown".
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import orjson

from waqiti_drill.platform.base import Platform

INTERVAL = 0.5


class RoleSampler(threading.Thread):
    def __init__(self, platform: Platform, path: Path, interval: float = INTERVAL) -> None:
        super().__init__(name="drill-role-sampler", daemon=True)
        self.platform, self.path, self.interval = platform, path, interval
        self._stop_event = threading.Event()
        self._known: list[str] = []
        self.samples = 0

    def sample(self) -> dict[str, str]:
        """One reading: member -> role, with 'down' for a member whose Patroni reports it not running."""
        try:
            members = self.platform.postgres_members()
        except Exception:  # noqa: BLE001 - an unreadable cluster is itself an observation
            return {name: "unknown" for name in self._known}
        roles = {m.name: (m.role if m.state in ("running", "streaming") else "down") for m in members}
        for name in self._known:
            roles.setdefault(name, "down")
        self._known = sorted(set(self._known) | set(roles))
        return dict(sorted(roles.items()))

    def run(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as fh:
            while not self._stop_event.is_set():
                started = time.monotonic()
                wall = time.time()
                fh.write(orjson.dumps({"wall": wall, "members": self.sample()}) + b"\n")
                fh.flush()
                self.samples += 1
                self._stop_event.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=15)
