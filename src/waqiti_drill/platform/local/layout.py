"""Where each part of the embedded stack keeps its files, all under the one state directory.

    <state>/state.json            marker: which tool and layout version created this directory
    <state>/secrets.json          generated secrets (mode 600, owned by the harness user)
    <state>/tls/                  CA and server certificate
    <state>/run/, <state>/logs/   pidfiles and one log per process
    <state>/etcd/                 DCS data
    <state>/pg/<member>/          Patroni config; data/ is PGDATA; sock/ is the Unix socket directory
                                  (as root, each member runs in its own network namespace: see netplan.py,
                                  and <state>/pg/<member> is its own filesystem: see disks.py)
    <state>/disks/<member>.img    as root: the member's ext4 image (disk_mib MiB, allocated up front),
                                  mounted at <state>/disks/mnt/<member>, whose fscrypt-encrypted enc/ is
                                  bind-mounted at <state>/pg/<member> (volumes.py); redis.img likewise
                                  at <state>/redis, restore.img at <state>/restore while a copy exists
    <state>/keys/<volume>.key     as root: each volume's encryption master key (mode 600)
    <state>/haproxy/              haproxy.cfg
    <state>/redis/<port>/         redis.conf, nodes.conf, AOF and RDB files
    <state>/s3/                   SeaweedFS data, identities and KEK
    <state>/pgbackrest/           per-member pgbackrest configs, lock, spool and log directories
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from waqiti_drill.config import PG_MEMBERS, Settings
from waqiti_drill.platform.local.netplan import plan_network


@dataclass(frozen=True)
class MemberLocation:
    """One PostgreSQL member's identity and files."""

    name: str
    port: int  # PostgreSQL
    rest_port: int  # Patroni REST API
    base: Path  # <state>/pg/<name>; Patroni and postgres run with their cwd here
    data_dir: Path
    socket_dir: Path
    host: str  # the address PostgreSQL and the REST API listen on (127.0.0.1, or its namespace's)
    netns: str | None  # the network namespace it runs in, None on loopback


def members(settings: Settings) -> list[MemberLocation]:
    out = []
    plan = plan_network(settings)
    for i, name in enumerate(PG_MEMBERS):
        base = settings.state_dir / "pg" / name
        net = plan.member(name)
        out.append(
            MemberLocation(
                name=name,
                port=settings.ports.postgres[i],
                rest_port=settings.ports.patroni[i],
                base=base,
                data_dir=base / "data",
                socket_dir=base / "sock",
                host=net.address,
                netns=net.netns,
            )
        )
    return out


def member(settings: Settings, name: str) -> MemberLocation:
    for m in members(settings):
        if m.name == name:
            return m
    from waqiti_drill.errors import InvalidConfig

    raise InvalidConfig(f"unknown PostgreSQL member '{name}'; valid: {', '.join(PG_MEMBERS)}")


def pgpass_path(settings: Settings) -> Path:
    """libpq password file (mode 600) used by pgBackRest and Patroni; never a password in a DSN."""
    return settings.state_dir / "pg" / "pgpass"
