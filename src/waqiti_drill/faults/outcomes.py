"""Typed views of what the chaostoolkit actions return, for the steps that need a figure from them.

The actions return JSON-able dicts, because chaostoolkit keeps them in its journal. A step does not dig into
those dicts by key: it builds one of these views from the dict (`View.of(done)`), in one place, so a key an
action renamed or dropped is one clear error naming the action and the key (and what it did return), not a
KeyError in the middle of a step. Each view holds only what the steps read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from waqiti_drill.timefmt import parse_utc


class ActionResultError(ValueError):
    """An action's result lacks what its view needs: a harness bug (action and view disagree), named."""


def _view(cls: type[Any], done: object, action: str) -> Any:  # noqa: ANN401 - an instance of cls
    """`cls` built from the dict `done`: each field from its key (the field's metadata "key", else its name),
    a field with metadata "view" built as that view in turn; a missing key without a default is an error."""
    if not isinstance(done, Mapping):
        raise ActionResultError(f"{action} returned {type(done).__name__}, not a result object")
    values: dict[str, Any] = {}
    missing: list[str] = []
    for f in dataclasses.fields(cls):
        key = f.metadata.get("key", f.name)
        if key in done:
            nested = f.metadata.get("view")
            values[f.name] = _view(nested, done[key], f"{action} ({key})") if nested else done[key]
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            missing.append(key)
    if missing:
        raise ActionResultError(f"{action}'s result lacks {', '.join(missing)} (it has: "
                                f"{', '.join(sorted(map(str, done))) or 'nothing'})")
    return cls(**values)


class _View:
    ACTION: ClassVar[str]

    @classmethod
    def of(cls, done: object) -> Self:
        """The view of what the action `ACTION` returned; ActionResultError when something is missing."""
        return _view(cls, done, cls.ACTION)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class RedisBackupTaken(_View):
    ACTION: ClassVar[str] = "take_redis_backup"
    label: str
    keys: int


@dataclass(frozen=True)
class BackupsReplicated(_View):
    ACTION: ClassVar[str] = "replicate_backups_now"
    method: str  # "sync" or "repo2"
    lag_seconds: float


@dataclass(frozen=True)
class ReplicationBeforeLoss(_View):
    """The replication lag measured just before the region was lost (the region_loss record's detail)."""

    ACTION: ClassVar[str] = "region_loss (replication_before_loss)"
    method: str
    primary_newest_wal: str | None
    backup_newest_wal: str | None
    segments_behind: int
    lag_seconds: float
    primary_newest_wal_at: str | None = None  # ISO 8601 UTC: when the newest WAL reached the primary's store


@dataclass(frozen=True)
class RegionLost(_View):
    ACTION: ClassVar[str] = "region_loss"
    injected_at: str  # ISO 8601 UTC: the fault record's instant
    destroyed: list[str]
    replication: ReplicationBeforeLoss = field(metadata={"key": "replication_before_loss",
                                                         "view": ReplicationBeforeLoss})

    @property
    def at(self) -> float:
        """The loss instant, epoch seconds."""
        return parse_utc(self.injected_at)

    @property
    def archive_lag_seconds(self) -> float | None:
        """How long before the loss the newest archived WAL reached the primary's store (None: unknown)."""
        newest = self.replication.primary_newest_wal_at
        return round(self.at - parse_utc(newest), 3) if newest else None


@dataclass(frozen=True)
class FailedOver(_View):
    ACTION: ClassVar[str] = "fail_over_to_backup_region"
    from_region: str = field(metadata={"key": "from"})
    to_region: str = field(metadata={"key": "to"})
    backup: str  # the pgBackRest set restored
    backup_stop: str  # ISO 8601 UTC
    redis_backup: str | None  # None: no complete Redis backup in the backup region
    redis_backup_start: str | None
    redis_keys_restored: int
    seconds: float

    def set_age_at(self, loss: float) -> float:
        """How long before the loss the restored set stopped: the archive's part of the RPO."""
        return round(loss - parse_utc(self.backup_stop), 3)

    def redis_backup_age_at(self, loss: float) -> float | None:
        return round(loss - parse_utc(self.redis_backup_start), 3) if self.redis_backup_start else None


@dataclass(frozen=True)
class RedisRestarted(_View):
    ACTION: ClassVar[str] = "restart_redis_cluster"
    seconds: float
