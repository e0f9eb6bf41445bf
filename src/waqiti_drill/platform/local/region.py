"""The backup region (the spec's us-east-1) as a second copy of the embedded stack's parts.

The backup region runs the very same code as the primary one (ObjectStore, Etcd, PatroniCluster,
HAProxy, RedisCluster, BackupRepo), given its own settings: a state directory of its own under
`<state>/regions/<name>/` and the primary's ports traded with their `dr_` twins (Ports.swapped), so
it inherits every change to how those parts are rendered and started. What the two regions share is
what survives the loss of a region by design: the secrets (the spec's secrets manager; the backup
region's store has keys of its own, Secrets.for_backup_region), the certificate authority and server
certificate (one PKI; the certificate names both regions' addresses) and the global endpoint the
clients use (director.py, the analogue of the Route53 names).

In the normal shape only the backup region's object store runs (fed by the scheduled sync or by
pgBackRest's repo2, see regionsync.py); its etcd, members, HAProxy and Redis nodes exist only while the
platform runs there after a region loss (regionloss.py).

Which region serves, and whether the primary was lost, is one small file written before anything is
destroyed, so a drill killed at any point is still recovered from it:

    <state>/regions/state.json    {"active": "us-west-2", "lost": null | {"region": ..., "at": ...}}
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from waqiti_drill.config import Settings
from waqiti_drill.errors import StateDirError
from waqiti_drill.platform.local.context import LocalContext
from waqiti_drill.platform.local.netplan import plan_network
from waqiti_drill.platform.local.runas import make_dir
from waqiti_drill.platform.local.statedir import ensure_state_dir
from waqiti_drill.platform.local.supervisor import Supervisor


def regions_dir(settings: Settings) -> Path:
    return settings.state_dir / "regions"


def backup_settings(settings: Settings) -> Settings:
    """The settings the backup region's parts run with (pure)."""
    state = regions_dir(settings) / settings.region.backup
    # The backup region has no backup region of its own: no repo2, no sync, no second endpoint.
    region = dataclasses.replace(settings.region, enabled=False)
    return dataclasses.replace(settings, state_dir=state, ports=settings.ports.swapped(), region=region)


def backup_addresses(settings: Settings) -> list[str]:
    """Addresses of the backup region's servers, for the shared certificate (pure)."""
    return plan_network(backup_settings(settings)).addresses()


def backup_context(primary: LocalContext) -> LocalContext:
    """A context for the backup region's parts: its settings, its store's keys, its own supervisor
    (pidfiles and logs under its state directory), and the shared certificate (a symlink to it)."""
    settings = backup_settings(primary.settings)
    state = settings.state_dir
    if not state.exists():
        state.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(state.parent, 0o755)
        ensure_state_dir(settings)  # its own marker (its ports, network, disks), like any state directory
        make_dir(primary.user, state, 0o755)
    link = state / "tls"
    if not link.is_symlink():
        if link.exists():
            raise StateDirError(f"{link} should be a link to the shared certificates; run 'drill down --purge'")
        link.symlink_to(primary.state_dir / "tls")
    return LocalContext(settings, primary.secrets.for_backup_region(), primary.user, Supervisor(state, primary.user))


# ----- which region serves -------------------------------------------------------------------------


@dataclass(frozen=True)
class RegionState:
    active: str  # the region the global endpoint points at
    lost: str | None = None  # a region lost and not yet rebuilt
    # ISO 8601 UTC (timefmt.utc_iso). Files written before that carry microseconds ("...00.123456Z"): read back
    # as the strings they are, and timefmt.parse_utc reads either notation.
    lost_at: str | None = None  # when the loss began
    failed_over_at: str | None = None


def state_path(settings: Settings) -> Path:
    return regions_dir(settings) / "state.json"


def read_state(settings: Settings) -> RegionState:
    path = state_path(settings)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return RegionState(active=settings.region.primary)
    except (OSError, ValueError) as exc:
        raise StateDirError(f"{path}: unreadable ({exc}); fix or remove it by hand") from None
    fields = {f.name for f in dataclasses.fields(RegionState)}
    if not isinstance(data, dict) or data.get("active") not in (settings.region.primary, settings.region.backup):
        raise StateDirError(f"{path}: names no region of this stack ({data!r})")
    return RegionState(**{k: v for k, v in data.items() if k in fields})


def write_state(settings: Settings, state: RegionState) -> None:
    """Written atomically and fsynced: it is what tells a later `drill up` or heal where things stand."""
    path = state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o755)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        fh.write(json.dumps(dataclasses.asdict(state), indent=1) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
