"""The members' server logs, read back from the end: what pgaudit and the connection log recorded lately.

With pgaudit logging every statement the logs grow fast, so they are read backwards from their end in
chunks until a line older than the instant asked for: a drill's check costs what it reads, not the log's
size. Lines carry PostgreSQL's `log_line_prefix` (`%m [%p] %q%u@%d `: a UTC timestamp with milliseconds
first); a line without one (a statement continued on the next line) belongs to the entry before it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

CHUNK = 1 << 20
LOG_GLOB = "postgresql-*.log"


def line_time(line: str) -> float | None:
    """Epoch seconds of a log line's `%m` prefix ("2026-12-03 06:50:34.123 UTC ..."), None without one."""
    parts = line.split(" ", 3)
    if len(parts) < 3 or parts[2] not in ("UTC", "GMT"):
        return None
    try:
        stamp = dt.datetime.strptime(f"{parts[0]} {parts[1]}", "%Y-%m-%d %H:%M:%S.%f")
    except ValueError:
        return None
    return stamp.replace(tzinfo=dt.UTC).timestamp()


def _backwards(path: Path) -> Iterator[str]:
    """The file's complete lines, last first."""
    with open(path, "rb") as fh:
        end = fh.seek(0, os.SEEK_END)
        rest = b""
        while end > 0:
            start = max(0, end - CHUNK)
            fh.seek(start)
            block = fh.read(end - start) + rest
            end = start
            lines = block.split(b"\n")
            rest = lines[0] if start > 0 else b""
            for raw in reversed(lines if start == 0 else lines[1:]):
                if raw:
                    yield raw.decode("utf-8", "replace")


def newest_starting(log_dir: Path, prefix: str, max_lines: int = 200_000) -> str:
    """The newest line of the member's logs that starts with `prefix` ('' when none in the last `max_lines`
    of the newest file): what a tool run by the server (archive_command) printed on its stderr."""
    files = sorted(log_dir.glob(LOG_GLOB), key=lambda p: p.stat().st_mtime if p.exists() else 0.0)
    if not files:
        return ""
    for n, line in enumerate(_backwards(files[-1])):
        if line.startswith(prefix):
            return line
        if n >= max_lines:
            break
    return ""


def lines_since(log_dir: Path, since: float) -> list[str]:
    """Every log line written at or after `since` (epoch), oldest first, from every log file of the member.

    A line without a timestamp is kept when the entry it continues is."""
    out: list[str] = []
    for path in sorted(log_dir.glob(LOG_GLOB)):
        try:
            if path.stat().st_mtime < since - 1:
                continue  # not written since: nothing in it can be newer
        except OSError:
            continue
        kept: list[str] = []
        pending: list[str] = []
        for line in _backwards(path):
            stamp = line_time(line)
            if stamp is None:
                pending.append(line)
                continue
            if stamp < since:
                break
            kept += pending
            pending = []
            kept.append(line)
        out += reversed(kept)
    return out
