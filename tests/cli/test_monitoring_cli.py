"""`drill up` with an alert rules file that does not parse: one line naming the file and line, exit 2, and
nothing started (the rules are checked with promtool before any part of the stack)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from tests.cli.cliutil import assert_one_line_error
from tests.integration.stackutil import new_state_dir

DRILL = [sys.executable, "-m", "waqiti_drill.cli"]


def test_up_refuses_rules_promtool_rejects_before_starting_anything():
    tmp_path = new_state_dir("wd-rules-")  # under /tmp, reachable by the database user as a stack must be
    rules = tmp_path / "r.yml"
    rules.write_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up ==== 0\n")
    config = tmp_path / "c.toml"
    config.write_text(f'[monitoring]\nrules_file = "{rules}"\n')
    env = dict(os.environ, DRILL_STATE_DIR=str(tmp_path / "state"), DRILL_CONFIG=str(config))
    result = subprocess.run([*DRILL, "up"], env=env, capture_output=True, text=True, timeout=120)
    try:
        assert_one_line_error(result, 2, f"{rules}: promtool rejects the rules:", "5:15", "parse error")
        assert not list((tmp_path / "state" / "run").glob("*.pid"))  # no process was started
    finally:
        subprocess.run([*DRILL, "down", "--purge"], env=env, capture_output=True, text=True, timeout=120)
        shutil.rmtree(tmp_path, ignore_errors=True)
