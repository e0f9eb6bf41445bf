"""One drill at a time per stack, against the session's real stack: two `drill run` started together (one
runs, the other is refused at once naming it), `drill heal` and `drill chaos` beside a drill (refused;
`heal --wait` waits for it), and a lock left by a killed holder taken over with a note."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from tests.integration.stackutil import DRILL
from tests.integration.test_operator import FREEZE
from waqiti_drill.faults import health
from waqiti_drill.results import read_results

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SCENARIOS = "scenarios"


def one_line(result: subprocess.CompletedProcess[str] | tuple[int, str], code: int) -> str:
    rc, err = (result.returncode, result.stderr) if isinstance(result, subprocess.CompletedProcess) else result
    assert rc == code, (rc, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_two_drills_started_together_one_runs_the_other_is_refused_at_once(stack, tmp_path):
    feature = tmp_path / "freeze.feature"
    feature.write_text(FREEZE)
    procs = {name: subprocess.Popen([*DRILL, "run", str(feature), "--reports-dir", str(tmp_path), "--run-id", name,
                                     "--no-report", "-q"], env=stack.env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for name in ("run-a", "run-b")}
    started = time.monotonic()
    try:
        while all(p.poll() is None for p in procs.values()) and time.monotonic() - started < 120:
            time.sleep(0.2)
        loser = next(name for name, p in procs.items() if p.poll() is not None)
        refused_after = time.monotonic() - started
        winner = "run-b" if loser == "run-a" else "run-a"
        line = one_line((procs[loser].returncode, procs[loser].stderr.read()), 11)
        assert line.startswith(f"drill run: error: another drill is in progress on this stack: run {winner} "
                               f"(pid {procs[winner].pid}, user "), line
        assert ", since 20" in line and "drill run" in line
        assert not (tmp_path / loser).exists(), "a refused run leaves nothing behind"
        print(f"\nrefused after {refused_after:.1f}s (both started together)")

        # beside the drill in progress: heal and chaos are refused, naming it
        heal = one_line(stack.drill("heal"), 11)
        assert f"run {winner} (pid {procs[winner].pid}" in heal and "drill heal --wait SECONDS" in heal
        chaos = one_line(stack.drill("chaos", f"{SCENARIOS}/primary_crash.yaml", "--run-dir", str(tmp_path / "c")), 11)
        assert f"run {winner}" in chaos
        # heal --wait waits for the drill to end, then heals
        waited = stack.drill("heal", "--wait", "600", timeout=900)
        assert waited.returncode == 0, waited.stderr
        assert procs[winner].poll() is not None, "heal --wait returned while the drill still ran"
        assert "waiting up to 600s for the drill in progress" in waited.stderr
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
                p.wait(timeout=300)
    assert procs[winner].wait() == 0, procs[winner].stdout.read()[-2000:]
    assert [r.status for r in read_results(tmp_path / winner)] == ["passed"]
    assert health.problems(stack.platform()) == []


def test_a_lock_whose_holder_was_killed_is_taken_over_with_a_note(stack, tmp_path):
    hold = ("import sys, time; from pathlib import Path; from waqiti_drill.faults.lock import DrillLock;"
            "DrillLock(Path(sys.argv[1])).acquire('stale-1', 'drill run --tags nightly'); print('held', flush=True);"
            "time.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(stack.state_dir)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()  # as a kill -9 of a drill would: the flock goes, its record stays
    holder.wait()
    heal = stack.drill("heal", timeout=600)
    assert heal.returncode == 0, heal.stderr
    assert f"drill heal: note: took over the lock of run stale-1 (pid {holder.pid}, user " in heal.stderr
    assert "its process is gone" in heal.stderr
    again = stack.drill("heal", timeout=600)
    assert again.returncode == 0 and "took over" not in again.stderr  # released cleanly this time
