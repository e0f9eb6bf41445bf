"""The receiver's JSON lines (webhook.py) read back as one AlertNotification per alert per notification."""

from __future__ import annotations

import json
from pathlib import Path

from waqiti_drill.errors import InvalidHistory
from waqiti_drill.platform.base import AlertNotification


def parse_notification_line(line: str) -> list[AlertNotification]:
    """One receiver line -> its alerts; ValueError when the line is not a receiver record."""
    record = json.loads(line)
    received = float(record["received_wall"])
    out = []
    for alert in record["payload"].get("alerts", []):
        labels = {str(k): str(v) for k, v in alert.get("labels", {}).items()}
        out.append(AlertNotification(name=labels.pop("alertname", ""), labels=labels,
                                     status=str(alert.get("status", "")), starts_at=str(alert.get("startsAt", "")),
                                     ends_at=str(alert.get("endsAt", "")), received_at=received))
    return out


def read_notifications(path: Path) -> list[AlertNotification]:
    """Every notification received so far. A corrupt line is an error naming file:line, except a last
    line still being written (the receiver fsyncs each line before answering)."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    out: list[AlertNotification] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            out += parse_notification_line(line)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            if number == len(lines):
                break
            raise InvalidHistory(f"{path}:{number}: not a notification record ({exc})") from None
    return out
