"""The members' archive_command wrapper against the real repository: the one refusal of pgBackRest's it passes
(a superseded timeline's segment already archived with other content: a replica's partial copy, found in the
field by the drills, which stopped archiving for good) and the ones it must keep (the server's own timeline).

Each case runs the installed script as PostgreSQL would, on a copy of a real archived segment with its last
byte changed, in a scratch `pg_wal` beside the live one: the live server's archiver is never involved."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from waqiti_drill.platform.local.commands import run_tool
from waqiti_drill.platform.local.layout import member
from waqiti_drill.platform.local.netplan import plan_network
from waqiti_drill.platform.local.patroni import PatroniCluster
from waqiti_drill.platform.local.pgbackrest import (
    ARCHIVE_DUPLICATE_EXIT,
    BackupRepo,
    archive_script_path,
)
from waqiti_drill.platform.local.runas import give, make_dir
from waqiti_drill.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def scratch(stack):
    """A directory the database user can reach (pytest's tmp_path sits under a 0700 parent)."""
    path = Path(tempfile.mkdtemp(prefix="wd-archive-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _primary(platform):  # noqa: ANN001, ANN202
    return next(m for m in platform.postgres_members() if m.role == "primary")


@pytest.fixture(scope="module")
def timelines(stack):
    """A switchover, so the new primary has a superseded timeline; then its WAL switched and archived."""
    platform = stack.platform()
    old = _primary(platform)
    candidate = next(m for m in platform.postgres_members() if m.role == "sync_standby")
    platform.switchover(candidate.name)

    def moved() -> tuple[bool, str]:
        now = _primary(platform)
        return now.name == candidate.name and (now.timeline or 0) > (old.timeline or 0), f"{now.name} TL {now.timeline}"

    wait_until(moved, 90, f"{candidate.name} to be primary on a new timeline")
    PatroniCluster(platform.context()).wait_healthy(90)
    platform.archive_wal()
    return member(stack.settings, candidate.name)


def _archived(location, timeline_hex: str, own: bool) -> str:  # noqa: ANN001
    """A full segment of `timeline_hex` the primary holds and has archived (status .done)."""
    status = location.data_dir / "pg_wal" / "archive_status"
    names = sorted(p.name[:-5] for p in status.glob("*.done") if len(p.name) == 29 and p.name.startswith(timeline_hex))
    assert names, f"no archived segment of timeline {timeline_hex} on {location.name} ({'own' if own else 'old'})"
    return names[-1]


def _push(stack, location, scratch: Path, name: str, histories: list[str]):  # noqa: ANN001, ANN202
    """Run the wrapper on a changed copy of `name` in `scratch`/pg_wal beside copies of `histories`."""
    platform = stack.platform()
    ctx = platform.context()
    wal = make_dir(ctx.user, scratch / "pg_wal", 0o700)
    for item in wal.iterdir():
        item.unlink()
    live = location.data_dir / "pg_wal"
    for history in histories:
        shutil.copyfile(live / history, wal / history)
        give(ctx.user, wal / history)
    repo = BackupRepo(ctx)
    argv = [str(archive_script_path(stack.settings)), str(wal / name), f"--config={repo.config_path(location)}",
            f"--stanza={repo.stanza}"]
    if plan_network(stack.settings).isolated:
        argv.append("--repo1-s3-endpoint=localhost")  # run from the host, where the store is on loopback
    # The genuine segment first: it is in the repository afterwards whatever the archiver had done, so the
    # changed copy below can only meet pgBackRest's refusal and never replace it.
    data = bytearray((live / name).read_bytes())
    (wal / name).write_bytes(bytes(data))
    give(ctx.user, wal / name)
    genuine = run_tool(ctx.user, argv, "archive-push.sh", cwd=location.data_dir, timeout=120, check=False)
    assert genuine.returncode == 0, genuine.stderr
    data[-1] ^= 0xFF  # differs from the archived one after the page header pgBackRest validates
    (wal / name).write_bytes(bytes(data))
    return run_tool(ctx.user, argv, "archive-push.sh", cwd=location.data_dir, timeout=120, check=False)


def test_a_superseded_timeline_s_segment_already_archived_counts_as_archived(stack, timelines, scratch):
    platform = stack.platform()
    now = _primary(platform)
    current = f"{now.timeline:08X}"
    assert (timelines.data_dir / "pg_wal" / f"{current}.history").exists()  # the switchover's new timeline
    old_timeline = f"{now.timeline - 1:08X}"
    name = _archived(timelines, old_timeline, own=False)
    histories = sorted(p.name for p in (timelines.data_dir / "pg_wal").glob("*.history"))
    result = _push(stack, timelines, scratch, name, histories)
    assert result.returncode == 0, result.stderr
    assert f"WAL file '{name}' of superseded timeline {old_timeline} (this server has {current})" in result.stderr
    assert "different checksum" in result.stderr  # pgBackRest's own refusal came first


def test_the_same_clash_without_a_newer_history_stays_an_error(stack, timelines, scratch):
    platform = stack.platform()
    now = _primary(platform)
    name = _archived(timelines, f"{now.timeline - 1:08X}", own=False)
    older = sorted(p.name for p in (timelines.data_dir / "pg_wal").glob("*.history")
                   if p.name[:8] <= f"{now.timeline - 1:08X}")
    result = _push(stack, timelines, scratch, name, older)
    assert result.returncode == ARCHIVE_DUPLICATE_EXIT, (result.returncode, result.stderr)
    assert "superseded" not in result.stderr


def test_a_clash_on_the_server_s_own_timeline_stays_an_error(stack, timelines, scratch):
    platform = stack.platform()
    now = _primary(platform)
    name = _archived(timelines, f"{now.timeline:08X}", own=True)
    histories = sorted(p.name for p in (timelines.data_dir / "pg_wal").glob("*.history"))
    result = _push(stack, timelines, scratch, name, histories)
    assert result.returncode == ARCHIVE_DUPLICATE_EXIT, (result.returncode, result.stderr)
    assert "different checksum" in result.stderr and "superseded" not in result.stderr
