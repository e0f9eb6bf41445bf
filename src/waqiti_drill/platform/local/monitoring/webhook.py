"""The harness's Alertmanager receiver: every notification, with the instant it arrived, as JSON lines.

Its receipt time is a drill's "notified" instant. It is a standard-library-only script, copied into
the state directory and run by the stack's interpreter as the run user (the checkout may not be
readable by that user), so it imports nothing from the harness.

    python -I webhook.py HOST PORT OUT.jsonl

Each line: {"received_wall": epoch s, "received_monotonic": CLOCK_MONOTONIC s, "path": ..., "payload":
Alertmanager's webhook body}. The line is flushed and fsynced before the 200 answer, so a notification
Alertmanager counts as delivered is on disk. GET /metrics says how many arrived (Prometheus scrapes it).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 8 << 20


def make_handler(out_path: str) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()
    out = open(out_path, "ab")  # noqa: SIM115 - open for the life of the process
    received = {"count": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            wall, mono = time.time(), time.monotonic()
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                self._answer(400, b"body required")
                return
            try:
                payload = json.loads(self.rfile.read(length))
            except ValueError:
                self._answer(400, b"not JSON")
                return
            line = json.dumps({"received_wall": wall, "received_monotonic": mono, "path": self.path,
                               "payload": payload}, separators=(",", ":")).encode() + b"\n"
            with lock:
                out.write(line)
                out.flush()
                os.fsync(out.fileno())
                received["count"] += 1
            self._answer(200, b"ok")

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/metrics":
                body = ("# TYPE waqiti_alert_notifications_received_total counter\n"
                        f"waqiti_alert_notifications_received_total {received['count']}\n").encode()
                self._answer(200, body, "text/plain; version=0.0.4")
            elif self.path == "/-/healthy":
                self._answer(200, b"ok")
            else:
                self._answer(404, b"not found")

        def _answer(self, code: int, body: bytes, kind: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
            sys.stderr.write(f"{self.log_date_time_string()} {format % args}\n")

    return Handler


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        sys.stderr.write("usage: webhook.py HOST PORT OUT.jsonl\n")
        return 2
    host, port, out = argv[1], int(argv[2]), argv[3]
    server = ThreadingHTTPServer((host, port), make_handler(out))
    sys.stderr.write(f"alert receiver listening on {host}:{port}, writing {out}\n")
    sys.stderr.flush()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
