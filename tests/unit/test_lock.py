"""The drill lock: one drill per stack, the holder named, a killed holder's lock taken over with a note, and
the processes of the drill holding it joining it instead of deadlocking (real flocks, real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from waqiti_drill.errors import LockHeld
from waqiti_drill.faults.lock import FD_ENV, TOKEN_ENV, DrillLock, Holder, child_env

HOLD = """
import sys, time
from pathlib import Path
from waqiti_drill.faults.lock import DrillLock
held = DrillLock(Path(sys.argv[1])).acquire(sys.argv[2], "drill run --tags nightly")
print("held", flush=True)
time.sleep(float(sys.argv[3]))
"""


def holder_process(state, run_id="night-1", seconds=60.0):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(state), run_id, str(seconds)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_drill_is_refused_naming_the_run_in_progress(tmp_path):
    proc = holder_process(tmp_path)
    try:
        started = time.monotonic()
        with pytest.raises(LockHeld) as refused:
            DrillLock(tmp_path).acquire("second")
        assert time.monotonic() - started < 1.0  # at once, no waiting
        text = str(refused.value)
        assert text.startswith("another drill is in progress on this stack: run night-1 (pid ")
        assert f"pid {proc.pid}, user " in text and "since 20" in text and "drill run --tags nightly" in text
        assert "\n" not in text and refused.value.exit_code == 11
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_holder_leaves_its_record_and_the_next_takes_over_with_a_note(tmp_path):
    proc = holder_process(tmp_path)
    proc.kill()
    proc.wait()
    held = DrillLock(tmp_path).acquire("next")
    assert held.note is not None and held.note.startswith(f"took over the lock of run night-1 (pid {proc.pid}")
    assert held.note.endswith("its process is gone")
    assert DrillLock(tmp_path).holder().run_id == "next"
    held.release()
    assert DrillLock(tmp_path).holder() is None  # a clean release leaves no record
    again = DrillLock(tmp_path).acquire("third")
    assert again.note is None
    again.release()


def test_an_old_plain_text_record_still_names_its_pid(tmp_path):
    path = tmp_path / "faults" / "drill.lock"
    path.parent.mkdir()
    path.write_text("pid 999999 since 2026-01-01T00:00:00Z\n")
    held = DrillLock(tmp_path).acquire("new")
    assert "pid 999999" in held.note and held.note.endswith("its process is gone")
    held.release()


def test_the_processes_of_the_drill_join_its_lock_and_no_other_does(tmp_path):
    held = DrillLock(tmp_path).acquire("parent-run")
    try:
        env = dict(os.environ, **child_env(held))
        assert env[TOKEN_ENV] == held.holder.token and env[FD_ENV] == str(held.handle.fileno())
        code = ("import sys; from pathlib import Path; from waqiti_drill.faults.lock import DrillLock;"
                "h = DrillLock(Path(sys.argv[1])).acquire('child'); print(h.inherited, h.holder.run_id)")
        child = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True,
                               pass_fds=(held.handle.fileno(),), timeout=60)
        assert child.stdout.split() == ["True", "parent-run"], child.stderr
        stranger = dict(env, **{TOKEN_ENV: "0" * 32})
        other = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=stranger, capture_output=True,
                               text=True, timeout=60)
        assert other.returncode != 0 and "another drill is in progress on this stack: run parent-run" in other.stderr
    finally:
        held.release()


def test_the_lock_outlives_a_killed_parent_while_its_child_holds_the_descriptor(tmp_path):
    """`drill run` killed while pytest still heals: the inherited descriptor keeps the flock."""
    held = DrillLock(tmp_path).acquire("parent-run")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], pass_fds=(held.handle.fileno(),))
    try:
        held.handle.close()  # the parent is gone (its record stays: it did not release)
        with pytest.raises(LockHeld, match="run parent-run"):
            DrillLock(tmp_path).acquire("second")
    finally:
        child.kill()
        child.wait()
    taken = DrillLock(tmp_path).acquire("second")
    assert taken.note and "run parent-run" in taken.note
    taken.release()


def test_holder_record_round_trip():
    h = Holder(run_id="r", pid=1, user="u", started_at="2026-01-01T00:00:00Z", command="drill chaos x", token="t")
    assert Holder.parse(json.dumps(h.__dict__)) == h and Holder.parse("  \n") is None



def test_heal_wait_is_the_users_own_bound_and_not_scaled_by_the_multiplier(tmp_path, monkeypatch):
    """`drill heal --wait 0.5` beside a drill in progress gives up after about half a second, whatever
    DRILL_TIMEOUT_MULTIPLIER says (it scales the harness's waits, not a limit the user typed)."""
    import argparse

    from waqiti_drill.cli import _heal_lock
    from waqiti_drill.errors import WaitTimeout

    monkeypatch.setenv("DRILL_TIMEOUT_MULTIPLIER", "40")
    proc = holder_process(tmp_path)
    try:
        started = time.monotonic()
        with pytest.raises(WaitTimeout, match=r"timed out after 0\.5s waiting for the drill in progress to end"):
            _heal_lock(DrillLock(tmp_path), argparse.Namespace(wait="0.5", force=False))
        assert time.monotonic() - started < 5.0, "scaled to 20 s"
    finally:
        proc.kill()
        proc.wait()
