"""What a load process needs to reach the platform, as a file; passwords travel in its environment.

The harness writes this from whichever Platform it drives, so Locust users are the same on the
embedded stack and on Kubernetes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from waqiti_drill.errors import InvalidConfig
from waqiti_drill.platform.base import RedisClientSettings

TARGETS_ENV = "DRILL_WORKLOAD_TARGETS"
PG_PASSWORD_ENV = "DRILL_POSTGRES_PASSWORD"
REDIS_PASSWORD_ENV = "DRILL_REDIS_PASSWORD"


@dataclass(frozen=True)
class WorkloadTargets:
    run_id: str
    history_dir: str
    rw_dsn: str  # libpq string without password
    ro_dsn: str
    redis_nodes: list[str]  # host:port startup nodes
    redis_client: RedisClientSettings | None = None  # TLS, CA file, ACL user (None: no Redis in this run)
    accounts: int = 1000
    counters: int = 64
    op_timeout: float = 10.0  # a client gives up after this long and records `info`
    session_ttl: int = 3600

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def load(cls, path: Path) -> WorkloadTargets:
        raw = json.loads(path.read_text())
        client = raw.pop("redis_client", None)
        return cls(**raw, redis_client=RedisClientSettings(**client) if client else None)

    def redis_settings(self) -> RedisClientSettings:
        """How this run's Redis clients connect; a run that loads Redis always has them."""
        if self.redis_client is None:
            raise InvalidConfig("the workload's targets name no Redis client settings (a run without Redis)")
        return self.redis_client
