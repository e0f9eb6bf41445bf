"""Running a chaostoolkit experiment from the harness: validated first, rollbacks ALWAYS played (on
success, on failure and on Ctrl-C; chaostoolkit's default skips them on failure), the safety control
always attached, and the journal kept with the run.

run_experiment installs signal handlers, so this must be called on the main thread (the CLI does).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from waqiti_drill.config import Settings
from waqiti_drill.errors import InvalidConfig

SAFETY_CONTROL = {"name": "waqiti-drill-safety",
                  "provider": {"type": "python", "module": "waqiti_drill.faults.controls"}}
RUNTIME = {"runtime": {"rollbacks": {"strategy": "always"}}}


def load(path: Path) -> dict[str, Any]:
    """Parse and validate an experiment file; any problem is one InvalidConfig naming the file (and line)."""
    import yaml
    from chaoslib.exceptions import ChaosException
    from chaoslib.experiment import ensure_experiment_is_valid

    if not path.is_file():
        raise InvalidConfig(f"{path}: no such experiment file")
    try:
        experiment = yaml.safe_load(path.read_text()) if path.suffix in (".yaml", ".yml") else json.loads(
            path.read_text())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise InvalidConfig(f"{where}: not valid YAML ({exc.problem})") from None
    except json.JSONDecodeError as exc:
        raise InvalidConfig(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(experiment, dict):
        raise InvalidConfig(f"{path}: an experiment must be a mapping at the top level")
    try:
        ensure_experiment_is_valid(experiment)
    except ChaosException as exc:
        raise InvalidConfig(f"{path}: invalid experiment: {str(exc).strip().splitlines()[0]}") from None
    return experiment


def run(path: Path, settings: Settings, run_dir: Path, config_file: str | None = None) -> dict[str, Any]:
    """Run the experiment against the stack `settings` describe; returns the journal (also written to
    <run_dir>/journal.json)."""
    from chaoslib.experiment import run_experiment

    experiment = load(path)
    conf = experiment.setdefault("configuration", {})
    conf.update(drill_state_dir=str(settings.state_dir), drill_run_dir=str(run_dir), drill_config=config_file or "")
    controls = experiment.setdefault("controls", [])
    if not any(c.get("provider", {}).get("module") == SAFETY_CONTROL["provider"]["module"] for c in controls):
        controls.append(SAFETY_CONTROL)
    run_dir.mkdir(parents=True, exist_ok=True)
    journal = run_experiment(experiment, settings=RUNTIME)
    (run_dir / "journal.json").write_text(json.dumps(journal, indent=2, default=str))
    return journal


def summary(journal: dict[str, Any]) -> tuple[bool, str]:
    """(passed, one line) from a journal: completed, not deviated, every rollback succeeded."""
    status = journal.get("status")
    deviated = journal.get("deviated")
    failed_rollbacks = [r["activity"]["name"] for r in journal.get("rollbacks", []) if r.get("status") != "succeeded"]
    failed_steps = [r["activity"]["name"] for r in journal.get("run", []) if r.get("status") != "succeeded"]
    passed = status == "completed" and not deviated and not failed_rollbacks and not failed_steps
    line = f"experiment {journal.get('experiment', {}).get('title', '?')!r}: status {status}"
    line += ", steady state deviated" if deviated else ""
    line += f", steps failed: {', '.join(failed_steps)}" if failed_steps else ""
    line += f", rollbacks failed: {', '.join(failed_rollbacks)}" if failed_rollbacks else ""
    return passed, line
