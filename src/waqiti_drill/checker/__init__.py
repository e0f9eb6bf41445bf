"""The checker: pure functions from a run's history files to RTO/RPO results and a pass/fail verdict.

    result = check(Path("runs/2025-11-25T18-00"), Targets())   # a CheckResult (checker/result.py)
    print(render_table(result))
    write_check(Path("check.json"), result)                     # read back with CheckResult.read

Nothing here talks to the platform: a history can be checked anywhere, again, long after the run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from waqiti_drill.checker.load import READ, Fault, History, load
from waqiti_drill.checker.report import render_table
from waqiti_drill.checker.result import CheckResult
from waqiti_drill.checker.rpo import MODES, judge
from waqiti_drill.checker.verdict import assess
from waqiti_drill.config import Targets
from waqiti_drill.datajson import to_json
from waqiti_drill.errors import InvalidConfig, InvalidHistory

__all__ = ["MODES", "CheckResult", "check", "render_table", "write_check"]


def check(path: Path | str, targets: Targets, slow_seconds: float = 1.0, mode: str | None = None) -> CheckResult:
    """Check one history (a run directory of *.jsonl files, or one file) against the targets.

    `mode` is how RPO is measured: "failover" (data lost by a failover) or "restore" (data lost by a
    restore from backup); None takes the inject fault record's detail rpo_mode, else failover.
    Raises InvalidHistory when the history cannot be fully accounted for, InvalidConfig on bad arguments.
    """
    if not (isinstance(slow_seconds, int | float) and math.isfinite(slow_seconds) and slow_seconds > 0):
        raise InvalidConfig(f"slow threshold must be a positive number of seconds, got {slow_seconds!r}")
    if mode is not None and mode not in MODES:
        raise InvalidConfig(f"RPO mode must be one of {', '.join(MODES)}, got {mode!r}")
    history = load(Path(path))
    fault = fault_instant(history)
    if not history.operations:
        raise InvalidHistory(f"{history.path}: no operations in the history; nothing to measure")
    require_final_read(history)
    chosen = mode or _mode_of(fault)
    return assess(history, fault, judge(history, fault.mono), targets, float(slow_seconds), chosen)


def write_check(path: Path, result: CheckResult) -> Path:
    path.write_text(json.dumps(to_json(result), indent=2, allow_nan=False) + "\n")
    return path


def fault_instant(history: History) -> Fault:
    """The first injected fault: RTO and RPO are both measured from it."""
    injected = [f for f in history.faults if f.phase == "inject"]
    if not injected:
        raise InvalidHistory(f"{history.path}: no fault record (kind=fault, phase=inject); cannot measure RTO/RPO "
                             "without the fault instant")
    return min(injected, key=lambda f: f.mono)


def require_final_read(history: History) -> None:
    """Without the final read-back, no write can be judged lost or kept: refuse rather than report RPO 0."""
    written = sorted({g[0] for gi, g in enumerate(history.groups) if history.kinds[gi] != READ})
    missing = [s for s in written if s not in history.final_done]
    if missing:
        raise InvalidHistory(f"{history.path}: the final read-back is missing for {', '.join(missing)} (no final_done "
                             "record lists it); cannot measure RPO without it")


def _mode_of(fault: Fault) -> str:
    mode = fault.detail.get("rpo_mode", "failover")
    if mode not in MODES:
        raise InvalidHistory(f"{fault.where}: fault detail rpo_mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode
