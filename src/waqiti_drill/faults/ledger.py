"""The active-fault ledger: <state>/faults/active.json, the faults injected and not yet undone.

An entry is written BEFORE the fault is injected (a crash between the two leaves an entry whose undo
is harmless) and removed only AFTER its undo succeeded. `drill heal` undoes whatever is left.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from waqiti_drill.errors import StateDirError


@dataclass(frozen=True)
class ActiveFault:
    id: str
    kind: str  # the fault kind, e.g. "freeze_member" (faults/registry.py says how it is undone)
    target: str  # member name, Redis address, "dcs", "object-store"
    injected_at: float  # time.time()
    pid: int  # the process that injected it (for the operator; heal does not need it to be alive)


class FaultLedger:
    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "faults"
        self.path = self.dir / "active.json"

    @contextlib.contextmanager
    def _locked(self, write: bool = True) -> Iterator[list[dict]]:
        if not write and not self.dir.is_dir():  # nothing was ever injected on this stack
            yield []
            return
        try:
            self.dir.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise StateDirError(f"cannot create the fault ledger in {self.dir}: {exc.strerror}") from None
        with open(self.dir / "ledger.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            entries = self._read()
            yield entries
            if not write:
                return
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(entries, indent=1))
            with open(tmp) as fh:
                os.fsync(fh.fileno())
            tmp.replace(self.path)

    def _read(self) -> list[dict]:
        if not self.path.exists():
            return []
        try:
            data = json.loads(self.path.read_text())
        except json.JSONDecodeError as exc:
            raise StateDirError(f"{self.path}:{exc.lineno}: the fault ledger is corrupt ({exc.msg}); "
                                "inspect it, then remove it and run 'drill heal'") from None
        if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
            # Never read as empty: the next write would erase whatever faults it still records.
            raise StateDirError(f"{self.path}: the fault ledger is not a JSON list of entries (found "
                                f"{type(data).__name__}); inspect it, then remove it and run 'drill heal'")
        return data

    def begin(self, kind: str, target: str) -> ActiveFault:
        fault = ActiveFault(id=secrets.token_hex(4), kind=kind, target=target, injected_at=time.time(),
                            pid=os.getpid())
        with self._locked() as entries:
            entries.append(asdict(fault))
        return fault

    def end(self, fault_id: str) -> None:
        with self._locked() as entries:
            entries[:] = [e for e in entries if e.get("id") != fault_id]

    def active(self) -> list[ActiveFault]:
        with self._locked(write=False) as entries:
            return [self._entry(e, i) for i, e in enumerate(entries)]

    def _entry(self, raw: dict, index: int) -> ActiveFault:
        try:
            return ActiveFault(id=str(raw["id"]), kind=str(raw["kind"]), target=str(raw["target"]),
                               injected_at=float(raw["injected_at"]), pid=int(raw["pid"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise StateDirError(f"{self.path}: entry {index} of the fault ledger is malformed ({type(exc).__name__}: "
                                f"{exc}); inspect it, then remove it and run 'drill heal'") from None
