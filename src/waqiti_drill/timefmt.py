"""The one way instants are written in records and reports: ISO 8601 UTC with milliseconds and a Z.

    utc_iso(1764576000.1234) == "2025-12-01T08:00:00.123Z";  utc_iso(None) is None

Every record (fault records' journal lines, the checker's result, results.json, run.json, restore info)
uses it, so instants of one format compare as strings and an auditor sees one notation throughout.
`parse_utc` (and `parse_utc_datetime`) is the one way such an instant is read back.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import overload


@overload
def utc_iso(epoch: float) -> str: ...
@overload
def utc_iso(epoch: None) -> None: ...
def utc_iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def now_utc_iso() -> str:
    return utc_iso(time.time())


def parse_utc_datetime(text: str) -> dt.datetime:
    """An ISO 8601 instant as an aware datetime (naive means UTC); ValueError when it is not one.

    The one parser of instants: it reads this module's notation and the others still found in older files
    (whole seconds, microseconds, an explicit offset). Callers that owe their user a particular message
    (`drill restore --to`, a report naming its file) wrap it instead of parsing again. Anything but a string
    (a number where a record should hold a time) is a ValueError too, so wrappers catch one exception.
    """
    if not isinstance(text, str):
        raise ValueError(f"not an ISO 8601 instant: {text!r}")
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def parse_utc(text: str) -> float:
    """Epoch seconds of an ISO 8601 instant (naive means UTC); ValueError when it is not one."""
    return parse_utc_datetime(text).timestamp()
