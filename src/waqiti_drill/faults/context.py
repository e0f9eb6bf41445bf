"""How an action or probe finds its stack: chaostoolkit passes only the experiment's `configuration`
(keys drill_state_dir, drill_config, drill_run_dir; else the same DRILL_* variables the CLI reads).

The FaultEngine of a stack is built once per process and kept, so an experiment's actions, its probes and
its 0.5 s waits do not re-read the TOML and rebuild the platform on every call. A drill adopts its own
platform (`adopt`), so its actions act on exactly the object its steps use.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from waqiti_drill.config import Settings, load_settings
from waqiti_drill.faults.engine import FaultEngine
from waqiti_drill.platform.base import Platform

Configuration = dict[str, Any] | None
_ENGINES: dict[tuple[str, str], FaultEngine] = {}


def _key(configuration: Configuration) -> tuple[str, str]:
    conf = configuration or {}
    state = conf.get("drill_state_dir") or os.environ.get("DRILL_STATE_DIR") or ""
    config = conf.get("drill_config") or os.environ.get("DRILL_CONFIG") or ""
    return str(state), str(config)


def engine(configuration: Configuration) -> FaultEngine:
    """The stack's engine: the adopted one, else one built from the settings (once per process)."""
    key = _key(configuration)
    found = _ENGINES.get(key)
    if found is None:
        from waqiti_drill.platform.factory import open_platform

        settings = load_settings(key[0] or None, key[1] or None)
        found = _ENGINES[key] = FaultEngine(settings, open_platform(settings), key[1] or None)
    return found


def adopt(settings: Settings, config_file: str | None, platform: Platform) -> FaultEngine:
    """Make `platform` the one every action and probe of this stack uses in this process."""
    key = (str(settings.state_dir), config_file or "")
    found = _ENGINES.get(key)
    if found is None or found.platform is not platform:
        found = _ENGINES[key] = FaultEngine(settings, platform, config_file)
    return found


def configuration_for(settings: Settings, config_file: str | None, run_dir: Path | None) -> dict[str, Any]:
    """The chaostoolkit `configuration` that points actions at this stack (and, with run_dir, at a run)."""
    return {"drill_state_dir": str(settings.state_dir), "drill_config": config_file or "",
            "drill_run_dir": str(run_dir) if run_dir else ""}


def run_dir_of(configuration: Configuration) -> Path | None:
    raw = (configuration or {}).get("drill_run_dir") or os.environ.get("DRILL_RUN_DIR")
    return Path(raw) if raw else None


def platform_of(configuration: Configuration) -> Platform:
    return engine(configuration).platform
