"""How an action finds its platform, ledger and run: chaostoolkit passes only the experiment's
`configuration`, so these come from it (keys drill_state_dir, drill_config, drill_run_dir) or from
the same DRILL_* environment variables the CLI reads."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from waqiti_drill import history
from waqiti_drill.config import Settings, load_settings
from waqiti_drill.faults.ledger import FaultLedger
from waqiti_drill.history import FaultPhase, FaultRecord
from waqiti_drill.platform.base import Platform
from waqiti_drill.platform.factory import open_platform

Configuration = dict[str, Any] | None


def settings_of(configuration: Configuration) -> Settings:
    conf = configuration or {}
    return load_settings(conf.get("drill_state_dir") or None, conf.get("drill_config") or None)


def platform_of(configuration: Configuration) -> Platform:
    return open_platform(settings_of(configuration))


def ledger_of(configuration: Configuration) -> FaultLedger:
    return FaultLedger(settings_of(configuration).state_dir)


def run_dir_of(configuration: Configuration) -> Path | None:
    raw = (configuration or {}).get("drill_run_dir") or os.environ.get("DRILL_RUN_DIR")
    return Path(raw) if raw else None


def record_fault(configuration: Configuration, name: str, target: str, phase: FaultPhase, **detail: Any) -> FaultRecord:
    """The fault's instant, taken now; written into the run's history when there is a run."""
    run_dir = run_dir_of(configuration)
    if run_dir is None:
        return FaultRecord.now(name, target, phase, **detail)
    return history.record_fault(run_dir / "history", name, target, phase, **detail)
