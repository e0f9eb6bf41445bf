"""The PostgreSQL side of the payments workload: a double-entry ledger.

A transfer moves `amount` between two accounts and records itself under a unique id, in ONE statement
(so one transaction and one round trip): both balance updates and the insert commit together or not
at all, and the final read can tell exactly which acknowledged transfers survived. Rows are locked in
primary-key order (one UPDATE over `id IN (a, b)`), so concurrent transfers cannot deadlock.

The same statement is what `benchmarks/bench_ledger.py` gives pgbench, so the two throughputs compare.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import psycopg
from psycopg import sql

INITIAL_BALANCE = 1_000_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id integer PRIMARY KEY,
    balance bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS transfers (
    run_id text NOT NULL,
    tid bigint NOT NULL,
    from_account integer NOT NULL,
    to_account integer NOT NULL,
    amount bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (run_id, tid)
);
"""

TRANSFER_SQL = """\
WITH moved AS (
    UPDATE accounts SET balance = balance + CASE WHEN id = %(src)s::integer THEN -%(amount)s::bigint
                                                 ELSE %(amount)s::bigint END
    WHERE id IN (%(src)s::integer, %(dst)s::integer)
    RETURNING id
)
INSERT INTO transfers (run_id, tid, from_account, to_account, amount)
SELECT %(run)s::text, %(tid)s::bigint, %(src)s::integer, %(dst)s::integer, %(amount)s::bigint
WHERE (SELECT count(*) FROM moved) = 2"""

BALANCE_SQL = "SELECT balance FROM accounts WHERE id = %(account)s"

# SQLSTATE classes after which the statement may or may not have committed: the connection died
# (08), or the server was shut down or crashed under it (57P01-57P03; PostgreSQL says a transaction
# waiting for synchronous replication "has already committed locally"). Anything else the server
# answered with an error is a definite failure.
UNKNOWN_OUTCOME_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def prepare_schema(conn: psycopg.Connection, accounts: int) -> None:
    """Create the ledger tables and open `accounts` accounts (idempotent; runs in the harness)."""
    conn.execute(SCHEMA)
    conn.execute(
        "INSERT INTO accounts (id, balance) SELECT g, %s FROM generate_series(1, %s) AS g ON CONFLICT (id) DO NOTHING",
        (INITIAL_BALANCE, accounts),
    )


def total_balance(conn: psycopg.Connection) -> tuple[int, int]:
    """(number of accounts, sum of balances): transfers conserve the sum, whatever failed."""
    count, total = conn.execute("SELECT count(*), coalesce(sum(balance), 0) FROM accounts").fetchone()
    return int(count), int(total)


def transferred_ids(conn: psycopg.Connection, run_id: str, chunk: int = 10_000) -> Iterator[list[int]]:
    """Every transfer id of a run, in chunks, through a server-side cursor (bounded memory)."""
    with conn.transaction(), conn.cursor(name="final_read") as cur:
        cur.execute(sql.SQL("SELECT tid FROM transfers WHERE run_id = %s ORDER BY tid"), (run_id,))
        while rows := cur.fetchmany(chunk):
            yield [row[0] for row in rows]


class NotSent(Exception):
    """The operation never reached the server (no connection could be opened): a definite failure."""


def outcome_of(exc: BaseException) -> str:
    """'fail' when the server certainly did not apply the statement, else 'info' (unknown)."""
    if isinstance(exc, NotSent):
        return "fail"
    if isinstance(exc, psycopg.Error) and exc.sqlstate:
        return "info" if exc.sqlstate.startswith(UNKNOWN_OUTCOME_SQLSTATES) else "fail"
    return "info"  # lost connection, timeout, cancelled greenlet: the reply never came


class LedgerClient:
    """One client connection, as one application thread would hold it; reconnects after any error.

    `deadline` returns a context manager that interrupts a call running longer than the client's
    patience (gevent.Timeout under Locust); the call's outcome is then unknown.
    """

    def __init__(
        self,
        conninfo: str,
        password: str,
        deadline: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
        connect_timeout: int = 3,
    ) -> None:
        self.conninfo = conninfo
        self.password = password
        self.deadline = deadline
        self.connect_timeout = connect_timeout
        self.conn: psycopg.Connection | None = None

    def connected(self) -> psycopg.Connection:
        """The open connection, or a new one; a failure here means the operation was never sent."""
        if self.conn is None or self.conn.closed:
            try:
                self.conn = psycopg.connect(
                    self.conninfo, password=self.password, autocommit=True, connect_timeout=self.connect_timeout
                )
            except psycopg.Error as exc:
                raise NotSent(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__) from exc
        return self.conn

    def transfer(self, run_id: str, tid: int, src: int, dst: int, amount: int) -> None:
        params = {"run": run_id, "tid": tid, "src": src, "dst": dst, "amount": amount}
        with self.deadline():
            cur = self.connected().execute(TRANSFER_SQL, params)
        if cur.rowcount != 1:
            raise LookupError(f"transfer {tid}: account {src} or {dst} does not exist")

    def balance(self, account: int) -> int:
        with self.deadline():
            row = self.connected().execute(BALANCE_SQL, {"account": account}).fetchone()
        if row is None:
            raise LookupError(f"account {account} does not exist")
        return int(row[0])

    def discard(self) -> None:
        """Drop the connection after an error, so the next operation starts clean."""
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = None
