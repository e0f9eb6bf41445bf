"""Point-in-time recovery judged against the history: what a copy restored to instant T must hold.

A transfer acknowledged before T committed before T, so it must be in the copy; one invoked after T
committed after T, so it must not be. A transfer in flight across T (invoked before, completed after
or never) may be either way and is only counted. Both clocks are the one wall clock of this machine
(the server's commit time and the client's invoke/ack times); on separate hosts the verdict needs
their skew bound, which the caller adds to `skew_seconds`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from waqiti_drill.checker.load import load_files
from waqiti_drill.checker.model import FAIL, OK, TRANSFER
from waqiti_drill.errors import InvalidHistory


@dataclass
class PitrVerdict:
    target_wall: float
    acked_before: int = 0  # transfers acknowledged before the target: each must be present
    missing_before: list[int] = field(default_factory=list)  # ... and these are not
    invoked_after: int = 0  # transfers invoked after the target: none may be present
    present_after: list[int] = field(default_factory=list)  # ... and these are
    failed_present: list[int] = field(default_factory=list)  # recorded as certainly not applied, yet present
    in_flight: int = 0  # invoked before, completed after (or never): either way is right
    present: int = 0  # tids in the copy

    @property
    def passed(self) -> bool:
        return not (self.missing_before or self.present_after or self.failed_present) and self.acked_before > 0

    def problems(self) -> list[str]:
        out = []
        if self.acked_before == 0:
            out.append("no transfer was acknowledged before the target time: the restore proves nothing")
        if self.missing_before:
            out.append(f"{len(self.missing_before)} transfer(s) acknowledged before the target are missing "
                       f"from the copy (e.g. tid {', '.join(map(str, self.missing_before[:5]))})")
        if self.present_after:
            out.append(f"{len(self.present_after)} transfer(s) invoked after the target are in the copy "
                       f"(e.g. tid {', '.join(map(str, self.present_after[:5]))})")
        if self.failed_present:
            out.append(f"{len(self.failed_present)} transfer(s) that failed are in the copy "
                       f"(e.g. tid {', '.join(map(str, self.failed_present[:5]))})")
        return out


def judge_point_in_time(history_dir: Path, present: set[int], target_wall: float,
                        skew_seconds: float = 0.0) -> PitrVerdict:
    """Compare the tids found in the restored copy with the transfers of the history (ops-*.jsonl), read by
    the checker's own parser (checker.load): a transfer judged here is one the checker would judge."""
    files = sorted(history_dir.glob("ops-*.jsonl"))
    if not files:
        raise InvalidHistory(f"{history_dir}: no operation files (ops-*.jsonl) to judge the restore against")
    history = load_files(history_dir, files)
    w = history.writes
    transfers = np.isin(w.group, [gi for gi, kind in enumerate(history.kinds) if kind == TRANSFER])
    # An operation never completed is INFO with comp_wall NaN: never "acknowledged before" anything.
    rows = zip(w.num[transfers].tolist(), w.inv_wall[transfers].tolist(), w.outcome[transfers].tolist(),
               w.comp_wall[transfers].tolist(), strict=True)
    verdict = PitrVerdict(target_wall=target_wall, present=len(present))
    for tid, invoked_at, outcome, done_at in rows:
        if outcome == FAIL:
            if tid in present:
                verdict.failed_present.append(tid)
        elif invoked_at > target_wall + skew_seconds:
            verdict.invoked_after += 1
            if tid in present:
                verdict.present_after.append(tid)
        elif outcome == OK and done_at < target_wall - skew_seconds:
            verdict.acked_before += 1
            if tid not in present:
                verdict.missing_before.append(tid)
        else:
            verdict.in_flight += 1
    verdict.missing_before.sort()
    verdict.present_after.sort()
    verdict.failed_present.sort()
    return verdict
