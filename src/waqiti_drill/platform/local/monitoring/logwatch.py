"""Failed logins as a metric: a counter of PostgreSQL's own authentication failures, per member.

PostgreSQL 15 keeps no counter of failed logins; it logs each one (FATAL, whatever log_connections
says). This reads every member's server log as it grows and serves, for Prometheus,

    waqiti_postgres_auth_failures_total{member="pg1", reason="password"}   password authentication failed
    waqiti_postgres_auth_failures_total{member="pg1", reason="hba"}        no pg_hba.conf entry (e.g. no TLS)

Log lines that pgaudit or log_connections add (issue 13) do not change these counts; on Kubernetes the
same counter is a log-based metric over CloudNativePG's logs. Standard library only: it is copied into
the state directory and run by the stack's interpreter as the run user, who owns the logs.

    python -I logwatch.py HOST PORT MEMBER=LOGDIR [MEMBER=LOGDIR ...]

Lines already in the logs when it starts are not counted (a counter starts at 0 with its process;
Prometheus's increase() handles the restart).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PATTERNS = {
    "password": "FATAL:  password authentication failed for user",
    "hba": "FATAL:  no pg_hba.conf entry for",
}
METRIC = "waqiti_postgres_auth_failures_total"
POLL_SECONDS = 0.5


class Counter:
    def __init__(self, members: dict[str, Path]) -> None:
        self.members = members
        self.counts = {(m, r): 0 for m in members for r in PATTERNS}
        self.offsets: dict[Path, tuple[int, int]] = {}  # file -> (inode, offset read up to)
        self.lock = threading.Lock()
        self.scan_lock = threading.Lock()  # the poll loop and a request both scan: one reads each line once
        self.scan(count=False)

    def scan(self, count: bool = True) -> None:
        with self.scan_lock:
            for member, log_dir in self.members.items():
                for path in sorted(log_dir.glob("postgresql-*.log")):
                    self._read(member, path, count)

    def _read(self, member: str, path: Path, count: bool) -> None:
        try:
            st = path.stat()
        except OSError:
            return
        inode, offset = self.offsets.get(path, (st.st_ino, 0 if count else st.st_size))
        if inode != st.st_ino or st.st_size < offset:  # replaced or truncated: read it from the start
            inode, offset = st.st_ino, 0
        if st.st_size > offset:
            with open(path, "rb") as fh:
                fh.seek(offset)
                data = fh.read()
            complete = data[: data.rfind(b"\n") + 1]  # a line still being written is read next time
            offset += len(complete)
            self._count(member, complete.decode("utf-8", "replace"))
        self.offsets[path] = (inode, offset)

    def _count(self, member: str, text: str) -> None:
        with self.lock:
            for line in text.splitlines():
                for reason, marker in PATTERNS.items():
                    if marker in line:
                        self.counts[(member, reason)] += 1

    def exposition(self) -> bytes:
        lines = [f"# HELP {METRIC} Failed PostgreSQL logins, from the server logs", f"# TYPE {METRIC} counter"]
        with self.lock:
            for (member, reason), n in sorted(self.counts.items()):
                lines.append(f'{METRIC}{{member="{member}",reason="{reason}"}} {n}')
        return ("\n".join(lines) + "\n").encode()


def parse_exposition(body: str) -> dict[str, float]:
    """`exposition`'s text read back: the refused logins counted so far, per member."""
    out: dict[str, float] = {}
    for line in body.splitlines():
        if line.startswith(METRIC + "{"):
            labels, _, value = line[len(METRIC) + 1:].rpartition("} ")
            member = next((kv.split("=", 1)[1].strip('"') for kv in labels.split(",") if kv.startswith("member=")), "")
            out[member] = out.get(member, 0.0) + float(value)
    return out


def make_handler(counter: Counter) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path != "/metrics":
                body, code = b"not found", 404
            else:  # read the logs first: a refusal logged since the last poll is counted in this answer
                counter.scan()
                body, code = counter.exposition(), 200
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet: Prometheus scrapes often
            pass

    return Handler


def main(argv: list[str]) -> int:
    if len(argv) < 4 or any("=" not in a for a in argv[3:]):
        sys.stderr.write("usage: logwatch.py HOST PORT MEMBER=LOGDIR [MEMBER=LOGDIR ...]\n")
        return 2
    members = {a.split("=", 1)[0]: Path(a.split("=", 1)[1]) for a in argv[3:]}
    counter = Counter(members)
    server = ThreadingHTTPServer((argv[1], int(argv[2])), make_handler(counter))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stderr.write(f"logwatch on {argv[1]}:{argv[2]} reading {', '.join(map(str, members.values()))}\n")
    sys.stderr.flush()
    while True:
        time.sleep(POLL_SECONDS)
        counter.scan()
    return 0


if __name__ == "__main__":
    os.umask(0o077)
    sys.exit(main(sys.argv))
