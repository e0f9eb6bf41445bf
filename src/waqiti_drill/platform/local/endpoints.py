"""The two stable PostgreSQL endpoints, as clients use them: DSNs without passwords, TLS verified.

They name the global endpoint (director.py), never a region's HAProxy, so a client follows the
platform from one region to the other without being reconfigured.
"""

from __future__ import annotations

import psycopg

from waqiti_drill.platform.local.context import LocalContext
from waqiti_drill.waiting import wait_until


class Endpoints:
    def __init__(self, ctx: LocalContext) -> None:
        self.ctx = ctx

    def port(self, read_only: bool) -> int:
        ports = self.ctx.settings.ports
        return ports.endpoint_ro if read_only else ports.endpoint_rw

    def dsn(self, read_only: bool) -> str:
        """libpq keyword string for the endpoint; the password travels separately (PGPASSWORD or kwargs)."""
        s = self.ctx.settings
        return (
            f"host={s.host} port={self.port(read_only)} dbname={s.database} user={s.app_user} "
            f"sslmode=verify-full sslrootcert={self.ctx.tls.ca_cert}"
        )

    def connect_kwargs(self, read_only: bool = False) -> dict[str, object]:
        return {"conninfo": self.dsn(read_only), "password": self.ctx.secrets.postgres_password}

    def connect(self, read_only: bool = False, timeout: int = 5) -> psycopg.Connection:
        return psycopg.connect(**self.connect_kwargs(read_only), connect_timeout=timeout, autocommit=True)

    def _routes_right(self) -> tuple[bool, str]:
        seen = []
        for read_only in (False, True):
            with self.connect(read_only) as conn:
                in_recovery = conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
            seen.append(f"{'ro' if read_only else 'rw'}:in_recovery={in_recovery}")
            if in_recovery != read_only:
                return False, ", ".join(seen)
        return True, ", ".join(seen)

    def wait_ready(self, timeout: float) -> None:
        wait_until(self._routes_right, timeout, "HAProxy to route rw to the primary and ro to a replica")
