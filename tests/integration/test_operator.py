"""What the operator sees, against the session's real stack: the plan before a run, and the live view of
a run on a terminal (a pseudo-terminal here, as an SRE's shell would be)."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest

from tests.featurecount import scenarios_tagged
from tests.integration.stackutil import DRILL
from waqiti_drill.faults import health
from waqiti_drill.results import read_manifest, read_results

pytestmark = [pytest.mark.integration, pytest.mark.slow]
FREEZE = """@quarterly @destructive
Feature: failover
  Background:
    Given the platform is healthy
    And the ledger load "steady" is running

  @primary_freeze
  Scenario: The primary hangs for less than the leader key's ttl
    When the PostgreSQL primary is frozen for 5 seconds
    Then the same member is the primary within 30 seconds
    And writes resume within 60 seconds
    And the measured RTO is at most 30 seconds
    And no acknowledged write is lost
"""
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def on_a_terminal(argv: list[str], env: dict[str, str], timeout: float) -> tuple[int, str]:
    """Run `argv` with a 120x40 pseudo-terminal as stdin/stdout/stderr; everything it wrote, ANSI left in."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env={**env, "TERM": "xterm-256color"},
                            close_fds=True)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()


def test_plan_on_the_real_stack_reads_health_and_starts_nothing(stack, tmp_path):
    before = health.problems(stack.platform())
    done = stack.drill("run", "--tags", "nightly", "--plan", "--reports-dir", str(tmp_path / "reports"))
    assert done.returncode == 0, done.stderr
    assert f"{scenarios_tagged('nightly')} scenario(s) would run" in done.stdout
    assert "fault: When the PostgreSQL primary is killed" in done.stdout
    assert f"target: local stack in {stack.state_dir}: healthy" in done.stdout
    assert not (tmp_path / "reports").exists() and before == [] and health.problems(stack.platform()) == []


def test_the_live_view_on_a_terminal(stack, tmp_path):
    feature = tmp_path / "freeze.feature"
    feature.write_text(FREEZE)
    started = time.monotonic()
    rc, raw = on_a_terminal([*DRILL, "run", str(feature), "--reports-dir", str(tmp_path), "--run-id", "live",
                             "--no-report", "--operator", "it-operator", "--ticket", "CHG-42"], stack.env, 600)
    took = time.monotonic() - started
    screen = ANSI.sub("", raw)
    print(f"\nlive run took {took:.0f}s")
    assert rc == 0, screen[-3000:]
    for fragment in ("drill run live", "1 of 1", "When the PostgreSQL primary is frozen for 5 seconds",
                     "freeze_member", "in force for", "ok/s", "errors/s", "primary", "sync_standby", "ETA"):
        assert fragment in screen, fragment
    frozen = re.findall(r"freeze_member\S* on \S*(pg\d)\S*, in force for (\d+) s", screen)
    assert frozen and max(int(s) for _, s in frozen) >= 3, frozen  # the panel counted the fault's time up
    assert re.search(r"\[1/1\] fault: freeze_member on pg\d", screen)
    # lines printed above the panel wrap at the terminal's 120 columns
    flat = re.sub(r"\s+", " ", screen)  # a wrap may fall between any two words
    ended = re.search(r"\[1/1\] passed in \d+ s: failover: The primary hangs.{0,120}?\(RTO 5\.\d s, RPO 0\.0 s", flat)
    assert ended, [line for line in screen.splitlines() if "[1/1]" in line]
    run_dir = tmp_path / "live"
    [result] = read_results(run_dir)
    assert result.status == "passed"
    manifest = read_manifest(run_dir)
    assert (manifest.operator, manifest.ticket) == ("it-operator", "CHG-42")
    junit = (run_dir / "junit.xml").read_text()
    assert 'classname="failover" name="The primary hangs for less than the leader key\'s ttl"' in junit
    assert (Path(run_dir) / "pytest.log").read_text().count("passed") >= 1  # pytest's output kept, not shown
    assert health.problems(stack.platform()) == []
