"""The archive_command wrapper's rule, run by /bin/sh with a stand-in for pgBackRest that exits as told (the
real pgBackRest and repository: tests/integration/test_archive_push.py), and the archiver diagnosis's log read."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from waqiti_drill.platform.local.auditlog import newest_starting
from waqiti_drill.platform.local.pgbackrest import ARCHIVE_DUPLICATE_EXIT, render_archive_script


def _run(tmp_path: Path, exit_code: int, segment: str, histories: list[str]) -> subprocess.CompletedProcess[str]:
    tool = tmp_path / "pgbackrest"
    tool.write_text(f"#!/bin/sh\necho \"called: $*\" >&2\nexit {exit_code}\n")
    tool.chmod(0o755)
    script = tmp_path / "archive-push.sh"
    script.write_text(render_archive_script(str(tool)))
    script.chmod(0o755)
    wal = tmp_path / "pg_wal"
    wal.mkdir(exist_ok=True)
    for name in [*histories, segment]:
        (wal / name).write_text("x")
    return subprocess.run([str(script), f"pg_wal/{segment}", "--config=/c.conf", "--stanza=s"], cwd=tmp_path,
                          capture_output=True, text=True, env={"PATH": os.environ["PATH"]}, check=False)


def test_pgbackrest_gets_the_options_then_archive_push_and_its_exit_code_stands(tmp_path):
    for code in (0, 1, 82):
        result = _run(tmp_path, code, "000000020000000000000003", ["00000002.history"])
        assert result.returncode == code
        assert "called: --config=/c.conf --stanza=s archive-push pg_wal/000000020000000000000003" in result.stderr


@pytest.mark.parametrize(("segment", "histories", "passed"), [
    ("00000002000000000000000D", ["00000002.history", "00000005.history"], True),  # superseded timeline
    ("00000009000000000000000D", ["00000009.history", "0000000A.history"], True),  # hex, not decimal
    ("0000000A000000000000000D", ["00000009.history", "0000000A.history"], False),  # the server's own timeline
    ("00000005000000000000000D", ["00000002.history", "00000005.history"], False),
    ("00000001000000000000000D", [], False),  # no history: timeline 1 is the newest there is
    ("00000002.history", ["00000002.history", "00000005.history"], False),  # history files are never passed
    ("00000002000000000000000D.partial", ["00000005.history"], False),
])
def test_only_a_duplicate_of_a_superseded_timeline_s_segment_counts_as_archived(tmp_path, segment, histories, passed):
    result = _run(tmp_path, ARCHIVE_DUPLICATE_EXIT, segment, histories)
    assert result.returncode == (0 if passed else ARCHIVE_DUPLICATE_EXIT), result.stderr
    assert ("of superseded timeline" in result.stderr) is passed


def test_the_newest_archive_push_error_is_read_from_the_end_of_the_newest_log(tmp_path):
    old, new = tmp_path / "postgresql-Wed.log", tmp_path / "postgresql-Thu.log"
    old.write_text("ERROR: [045]: older file\n")
    new.write_text("LOG: x\nERROR: [045]: first\nWARN: w\nERROR: [082]: second\nLOG: after\n")
    os.utime(old, (1, 1))
    assert newest_starting(tmp_path, "ERROR: [") == "ERROR: [082]: second"
    assert newest_starting(tmp_path, "FATAL:") == ""
    assert newest_starting(tmp_path / "missing", "ERROR: [") == ""
