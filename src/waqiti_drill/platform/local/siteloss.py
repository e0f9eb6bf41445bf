"""Loss of the whole PostgreSQL cluster, and its rebuild from the object store alone.

The loss: every member killed at once (Patroni and the postgres trees), its disk gone (as root the
member's encrypted ext4 image is unmounted and deleted with its key; otherwise its directory is
removed), and the cluster's state in the DCS deleted, as when a site's nodes, volumes and Kubernetes
objects are gone. What is left is the repository in the object store: backups and archived WAL.

The rebuild is Patroni's own: its bootstrap becomes a custom method that runs `pgbackrest restore`
(the newest set, then every archived WAL segment, then promotion at the end of the archive), and the
other members clone the new primary as usual. A marker `<state>/pg/lost.json`, written before anything
is destroyed, makes `drill up` (and so `drill heal`) rebuild this way until the cluster is healthy, so
a drill killed half-way through is still recovered.
"""

from __future__ import annotations

import json
import shlex
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

from waqiti_drill.config import Settings
from waqiti_drill.platform.local.context import LocalContext
from waqiti_drill.platform.local.disks import MemberDisks, disks_enabled
from waqiti_drill.platform.local.etcd import Etcd
from waqiti_drill.platform.local.layout import MemberLocation, members
from waqiti_drill.platform.local.pgbackrest import BackupRepo
from waqiti_drill.platform.local.runas import write_file
from waqiti_drill.timefmt import now_utc_iso
from waqiti_drill.waiting import wait_until


def marker_path(settings: Settings) -> Path:
    return settings.state_dir / "pg" / "lost.json"


def is_lost(settings: Settings) -> bool:
    return marker_path(settings).exists()


def lost_since(settings: Settings) -> str | None:
    try:
        return str(json.loads(marker_path(settings).read_text()).get("destroyed_at"))
    except (OSError, ValueError):
        return None


def clear(settings: Settings) -> None:
    marker_path(settings).unlink(missing_ok=True)


def destroy(ctx: LocalContext) -> list[str]:
    """Kill every member at once, delete the cluster's DCS keys, destroy every member's disk.

    One line per thing destroyed. The marker goes first, so whatever happens after, `up` rebuilds.
    """
    settings = ctx.settings
    at = now_utc_iso()
    marker_path(settings).write_text(json.dumps({"destroyed_at": at}) + "\n")
    located = members(settings)
    for m in located:  # all at once, as when the site goes: no member sees another leave first
        ctx.supervisor.signal_under(m.base, signal.SIGKILL)

    def gone() -> tuple[bool, list[int]]:
        left = [pid for m in located for pid in ctx.supervisor.signal_under(m.base, signal.SIGKILL)]
        return not left, left

    wait_until(gone, 10.0, "every process of every member to exit after SIGKILL", interval=0.05)
    done = [f"killed {', '.join(m.name for m in located)}"]
    deleted = Etcd(ctx).delete_prefix(f"/service/{settings.scope}/")
    done.append(f"deleted {deleted} key(s) of cluster '{settings.scope}' from the DCS")
    done += _destroy_disks(ctx, located)
    return done


def _destroy_disks(ctx: LocalContext, located: list[MemberLocation]) -> list[str]:
    if disks_enabled():  # the members' images and their keys; Redis's volume is not the site's database
        return MemberDisks(ctx.settings, ctx.user).destroy([m.name for m in located])
    for m in located:
        shutil.rmtree(m.base, ignore_errors=True)
    return [f"removed {m.base}" for m in located]


def bootstrap_commands(ctx: LocalContext, repo: BackupRepo) -> Callable[[MemberLocation], str]:
    """Write each member's restore script (run by Patroni, as the run user, in the member's network)
    and return member -> the command Patroni's custom bootstrap runs."""

    def command(m: MemberLocation) -> str:
        script = repo.dir / f"bootstrap-restore-{m.name}.sh"
        restore = [repo.binary, f"--config={repo.config_path(m)}", f"--stanza={repo.stanza}",
                   f"--pg1-path={m.data_dir}", "restore"]  # the newest set (pgBackRest refuses a literal --set=latest)
        text = ("#!/bin/sh\n"
                f"# Patroni's bootstrap of {m.name} after a site loss: restore from the repository (waqiti-drill)\n"
                "set -e\n"
                f"mkdir -p -m 700 {shlex.quote(str(m.data_dir))}\n"
                f"exec {shlex.join(restore)}\n")
        write_file(ctx.user, script, text, 0o700)
        return str(script)

    return command
