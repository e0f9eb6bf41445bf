"""Connections held open against one PostgreSQL member: the connection-pool-exhaustion condition.

Run as its own supervised process (so the condition outlives a drill step, shows in `drill status`,
and `drill heal` ends it even after the drill itself was killed):

    python -I connhold.py HOST PORT DBNAME USER COUNT SSLROOTCERT READY_FILE

It opens COUNT client connections over TLS (verify-full) as USER, with application_name
waqiti-drill-connhold, the password from the libpq password file PGPASSFILE (never argv), writes
READY_FILE once all are open, then holds them until it is stopped. Only psycopg beside the
standard library: it runs from the stack's interpreter, copied out of the checkout.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import psycopg

APPLICATION_NAME = "waqiti-drill-connhold"


def main(argv: list[str]) -> int:
    if len(argv) != 8:
        sys.stderr.write("usage: connhold.py HOST PORT DBNAME USER COUNT SSLROOTCERT READY_FILE\n")
        return 2
    host, port, dbname, user, count, ca, ready = argv[1:]
    held = []
    for i in range(int(count)):
        try:
            held.append(psycopg.connect(host=host, port=int(port), dbname=dbname, user=user, sslmode="verify-full",
                                        sslrootcert=ca, application_name=APPLICATION_NAME, connect_timeout=10,
                                        autocommit=True))
        except psycopg.Error as exc:
            sys.stderr.write(f"connection {i + 1} of {count} refused: {str(exc).strip()}\n")
            return 1
    tmp = ready + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(f"{len(held)}\n")
    os.replace(tmp, ready)
    sys.stderr.write(f"holding {len(held)} connections to {host}:{port}\n")
    sys.stderr.flush()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
