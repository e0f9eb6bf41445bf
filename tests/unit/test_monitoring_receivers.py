"""The harness's own monitoring servers: the alert receiver and the failed-login counter, run for real on
loopback (ephemeral ports), and the receiver's records read back."""

import json
import threading
import time
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from waqiti_drill.errors import InvalidHistory
from waqiti_drill.platform.local.monitoring import logwatch, webhook
from waqiti_drill.platform.local.monitoring.notifications import read_notifications

PAYLOAD = {"receiver": "waqiti-drill", "status": "firing", "alerts": [
    {"status": "firing", "labels": {"alertname": "PostgresInstanceDown", "member": "pg1", "severity": "critical"},
     "startsAt": "2026-12-02T10:00:05.123Z", "endsAt": "0001-01-01T00:00:00Z"},
    {"status": "resolved", "labels": {"alertname": "BackupFailed", "type": "incr"},
     "startsAt": "2026-12-02T09:59:00Z", "endsAt": "2026-12-02T10:00:00.5Z"}]}


def serve(handler: type) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_receiver_records_each_notification_with_its_receipt_time(tmp_path: Path):
    out = tmp_path / "notifications.jsonl"
    server, url = serve(webhook.make_handler(str(out)))
    try:
        before = time.time()
        assert post(url + "/alertmanager", json.dumps(PAYLOAD).encode()) == 200
        after = time.time()
        assert post(url + "/alertmanager", b"not json") == 400
        with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
            assert b"waqiti_alert_notifications_received_total 1" in resp.read()
    finally:
        server.shutdown()
    alerts = read_notifications(out)
    assert [(a.name, a.status) for a in alerts] == [("PostgresInstanceDown", "firing"), ("BackupFailed", "resolved")]
    assert before <= alerts[0].received_at <= after
    assert alerts[0].labels == {"member": "pg1", "severity": "critical"}
    assert alerts[0].starts_at == "2026-12-02T10:00:05.123Z" and alerts[1].ends_at == "2026-12-02T10:00:00.5Z"


def test_a_corrupt_receiver_line_names_file_and_line_but_a_last_partial_line_is_waited_for(tmp_path: Path):
    out = tmp_path / "n.jsonl"
    good = json.dumps({"received_wall": 1.0, "received_monotonic": 1.0, "path": "/", "payload": PAYLOAD})
    out.write_text(good + "\n" + good[:20])
    assert len(read_notifications(out)) == 2
    out.write_text("garbage\n" + good + "\n")
    with pytest.raises(InvalidHistory, match=r"n.jsonl:1: not a notification record"):
        read_notifications(out)
    assert read_notifications(tmp_path / "none.jsonl") == []


FAILED = 'FATAL:  password authentication failed for user "waqiti_user"'
NO_HBA = 'FATAL:  no pg_hba.conf entry for host "10.1.1.1", user "x", database "y", no encryption'


def line(text: str) -> str:
    return f"2026-12-02 10:00:00.000 UTC [123] waqiti_user@waqiti {text}\n"


def test_the_counter_counts_new_failed_logins_per_member_and_reason(tmp_path: Path):
    pg1, pg2 = tmp_path / "pg1", tmp_path / "pg2"
    pg1.mkdir()
    pg2.mkdir()
    (pg1 / "postgresql-Wed.log").write_text(line(FAILED) * 3)  # before the counter starts: not counted
    counter = logwatch.Counter({"pg1": pg1, "pg2": pg2})
    with open(pg1 / "postgresql-Wed.log", "a") as fh:
        fh.write(line(FAILED) + line("LOG:  checkpoint starting") + line(NO_HBA) + line(FAILED)[:30])
    (pg2 / "postgresql-Thu.log").write_text(line(FAILED) * 2)  # a new file: all of it is new
    counter.scan()
    assert counter.counts == {("pg1", "password"): 1, ("pg1", "hba"): 1, ("pg2", "password"): 2, ("pg2", "hba"): 0}
    with open(pg1 / "postgresql-Wed.log", "a") as fh:
        fh.write(line(FAILED)[30:])  # the half-written line completes: counted once
    counter.scan()
    assert counter.counts[("pg1", "password")] == 2
    text = counter.exposition().decode()
    assert 'waqiti_postgres_auth_failures_total{member="pg2",reason="password"} 2' in text
    assert "# TYPE waqiti_postgres_auth_failures_total counter" in text
    assert logwatch.parse_exposition(text) == {"pg1": 3.0, "pg2": 2.0}  # both reasons, summed per member


def test_the_counter_serves_metrics_with_what_the_logs_hold_at_the_request(tmp_path: Path):
    counter = logwatch.Counter({"pg1": tmp_path})
    server, url = serve(logwatch.make_handler(counter))
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
            body = resp.read().decode()
        (tmp_path / "postgresql-Wed.log").write_text(line(FAILED))  # logged after the last scan: no poll ran since
        with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
            later = resp.read().decode()
    finally:
        server.shutdown()
    assert 'waqiti_postgres_auth_failures_total{member="pg1",reason="password"} 0' in body
    assert 'waqiti_postgres_auth_failures_total{member="pg1",reason="password"} 1' in later
