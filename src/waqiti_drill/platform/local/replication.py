"""How far the backup region's copy of the repository is behind the primary's, read from both stores.

The measure is the one a DR engineer checks by hand: the newest WAL segment archived in each region's
bucket. `segments_behind` counts the primary's segments the backup region does not have; `lag_seconds`
is the age of the oldest of them (how much archived history a region loss right now would lose on top
of what never reached the primary's archive), 0 when the backup region has everything.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

SEGMENT = re.compile(r"^[0-9A-F]{24}$")


@dataclass(frozen=True)
class WalObject:
    segment: str  # 24 hex characters: timeline, log, segment
    modified: float  # epoch seconds (the store's LastModified)


def wal_segments(s3: Any, bucket: str, stanza: str, prefix: str = "pgbackrest/") -> dict[str, WalObject]:
    """Every archived WAL segment of `stanza` in the bucket: name -> (segment, LastModified)."""
    out: dict[str, WalObject] = {}
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}archive/{stanza}/"):
        for obj in page.get("Contents", []):
            name = obj["Key"].rsplit("/", 1)[-1].split("-", 1)[0]
            if SEGMENT.match(name):
                out[name] = WalObject(name, obj["LastModified"].timestamp())
    return out


@dataclass(frozen=True)
class WalLag:
    primary_newest: str | None
    primary_newest_at: float | None  # its LastModified: when the newest archived WAL reached the primary's store
    backup_newest: str | None
    segments_behind: int
    lag_seconds: float
    measured_at: float


def compare(primary: dict[str, WalObject], backup: dict[str, WalObject], now: float | None = None) -> WalLag:
    """The lag of `backup` behind `primary` (pure)."""
    now = time.time() if now is None else now
    missing = sorted(name for name in primary if name not in backup)
    lag = now - min(primary[name].modified for name in missing) if missing else 0.0
    newest = max(primary) if primary else None
    return WalLag(primary_newest=newest, primary_newest_at=primary[newest].modified if newest else None,
                  backup_newest=max(backup) if backup else None,
                  segments_behind=len(missing), lag_seconds=round(max(lag, 0.0), 3), measured_at=now)
