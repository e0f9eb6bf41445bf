"""Reading a history: the whole of a finished one (`load`, for the checker and the report), or a growing
one as it is written (`HistoryTail`, for the steady-state waits, the abort guard and live progress).

Both go through the one parser (parse.Loader), so a line the checker would refuse is refused live too,
and an acknowledged write counted during the drill is the same acknowledged write the checker judges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from waqiti_drill.checker.model import (  # noqa: F401 - re-exported: the names other modules import from here
    FAIL,
    INCR,
    INFO,
    OK,
    READ,
    SESSION,
    TRANSFER,
    Fault,
    History,
    Writes,
)
from waqiti_drill.checker.parse import FileState, Loader
from waqiti_drill.errors import InvalidHistory
from waqiti_drill.history import FAULTS_FILE, HISTORY_GLOB, HistoryError, history_files


def load(path: Path) -> History:
    """Parse every file of a history (a run directory or one file); raises InvalidHistory."""
    try:
        files = history_files(path)
    except HistoryError as exc:
        raise InvalidHistory(str(exc)) from None
    return load_files(path, files)


def load_files(path: Path, files: list[Path]) -> History:
    """Parse the given files of the history at `path` (e.g. only the clients' ops-*.jsonl, for the
    point-in-time verdict); raises InvalidHistory naming file:line."""
    loader = Loader()
    for index, file in enumerate(files):
        loader.load_file(file, index)
    return loader.finish(path, files)


def load_faults(history_dir: Path) -> list[Fault]:
    """The fault records of a scenario (its faults.jsonl), read by the checker's parser: what detection and
    the drill's first fault are measured from is exactly what the checker judges. None yet: []. A bad line
    is InvalidHistory naming file:line."""
    path = history_dir / FAULTS_FILE
    if not path.is_file():
        return []
    return load_files(history_dir, [path]).faults


@dataclass(frozen=True)
class WriteCounts:
    """Completed and open writes of one service so far."""

    acked: int = 0
    failed: int = 0
    unknown: int = 0  # info: timed out, connection lost (possibly applied)
    open: int = 0  # invoked, not completed yet
    oldest_open_mono: float | None = None  # invoke instant of the oldest open write

    @property
    def completed(self) -> int:
        return self.acked + self.failed + self.unknown


@dataclass(frozen=True)
class LiveCounts:
    """What a growing history says now, per service (writes only: reads are served by replicas through a
    primary outage and would hide it)."""

    services: dict[str, WriteCounts] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)

    @property
    def acked(self) -> int:
        return sum(c.acked for c in self.services.values())

    def total(self) -> WriteCounts:
        opens = [c.oldest_open_mono for c in self.services.values() if c.oldest_open_mono is not None]
        return WriteCounts(acked=self.acked, failed=sum(c.failed for c in self.services.values()),
                           unknown=sum(c.unknown for c in self.services.values()),
                           open=sum(c.open for c in self.services.values()), oldest_open_mono=min(opens, default=None))


class HistoryTail:
    """A history still being written, read incrementally: each `poll` parses only what was appended to each
    file since the last one (a partial last line waits for the rest). Writers flush a few times a second
    (workload/recorder.py), so the counts trail the clients by well under a second."""

    def __init__(self, history_dir: Path, pattern: str = HISTORY_GLOB) -> None:
        """`pattern` narrows the files read (the live view's fault watch reads only faults.jsonl)."""
        self.dir = history_dir
        self.pattern = pattern
        self.loader = Loader()
        self.files: dict[Path, FileState] = {}

    def poll(self) -> LiveCounts:
        for path in sorted(self.dir.glob(self.pattern)) if self.dir.is_dir() else []:
            state = self.files.get(path)
            if state is None:
                state = self.files[path] = FileState(path, len(self.files))
            try:
                with open(path, "rb") as fh:
                    fh.seek(state.offset)
                    data = fh.read()
            except OSError as exc:
                raise InvalidHistory(f"{path}: cannot read the history ({exc.strerror})") from None
            state.offset += len(data)
            if data:
                self.loader.feed(state, data)
        return self.counts()

    def counts(self) -> LiveCounts:
        loader = self.loader
        done: dict[str, list[int]] = {}
        for gi, (service, _shard, _f) in enumerate(loader.groups):
            if loader.kinds[gi] != READ:
                row = done.setdefault(service, [0, 0, 0])
                for i in (OK, FAIL, INFO):
                    row[i] += loader.counts[gi][i]
        opened: dict[str, list[float]] = {}
        for state in self.files.values():
            for _line, gi, mono, _wall, _num in state.open_ops.values():
                if loader.kinds[gi] != READ:
                    opened.setdefault(loader.groups[gi][0], []).append(mono)
        services = {}
        for service in sorted(set(done) | set(opened)):
            ok, fail, info = done.get(service, [0, 0, 0])
            monos = opened.get(service, [])
            services[service] = WriteCounts(acked=ok, failed=fail, unknown=info, open=len(monos),
                                            oldest_open_mono=min(monos) if monos else None)
        return LiveCounts(services=services, faults=list(loader.faults))


def error_ratio(before: WriteCounts, now: WriteCounts, now_mono: float, window: float) -> float | None:
    """Failed or unknown writes over all writes completed between two polls. With none completed, a write
    open for longer than the window means the clients are stuck (1.0); with none open either, None."""
    completed = now.completed - before.completed
    if completed > 0:
        return ((now.failed - before.failed) + (now.unknown - before.unknown)) / completed
    if now.oldest_open_mono is not None and now_mono - now.oldest_open_mono > window:
        return 1.0
    return None
