"""Typed settings: where state lives, every port, and the DR targets.

Defaults need no file. A TOML file (``--config`` or ``DRILL_CONFIG``) may override any port or
target; an unknown key is an error naming the file and the key, never silently ignored.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from waqiti_drill.errors import InvalidConfig

PG_MEMBERS = ("pg1", "pg2", "pg3")


@dataclass(frozen=True)
class Ports:
    """Every TCP port the embedded stack listens on (all below the ephemeral range, on loopback)."""

    etcd_client: int = 25379
    etcd_peer: int = 25380
    haproxy_rw: int = 25432
    haproxy_ro: int = 25433
    haproxy_stats: int = 25404
    postgres: tuple[int, ...] = (25441, 25442, 25443)
    restore: int = 25444  # a restored copy (drill restores, PITR), beside the cluster
    patroni: tuple[int, ...] = (25451, 25452, 25453)
    redis: tuple[int, ...] = (25501, 25502, 25503, 25504, 25505, 25506)
    redis_bus: tuple[int, ...] = (25601, 25602, 25603, 25604, 25605, 25606)
    s3: int = 25333
    s3_grpc: int = 25334
    weed_master: int = 25335
    weed_master_grpc: int = 25336
    weed_volume: int = 25337
    weed_volume_grpc: int = 25338
    weed_filer: int = 25339
    weed_filer_grpc: int = 25340
    # Monitoring (Prometheus, Alertmanager, the exporters; see platform/local/monitoring/), loopback only.
    prometheus: int = 25700
    alertmanager: int = 25701  # its cluster listener is off: one Alertmanager, no gossip port
    pushgateway: int = 25702
    alert_webhook: int = 25703  # the harness's own Alertmanager receiver
    logwatch: int = 25704  # the harness's failed-login counter (PostgreSQL logs)
    postgres_exporter: tuple[int, ...] = (25711, 25712, 25713)  # one per member
    redis_exporter: tuple[int, ...] = (25721, 25722, 25723, 25724, 25725, 25726, 25727, 25728)  # six + two spares
    node_exporter: int = 25729  # the members' own filesystems (disk usage)
    # The global endpoint clients use (the spec's Route53 names): it forwards to the active region's
    # HAProxy and Redis nodes, and the failover automation re-points it (see platform/local/director.py).
    endpoint_rw: int = 25366
    endpoint_ro: int = 25367
    endpoint_redis: int = 25368
    # The backup region (the spec's us-east-1): its own object store always; its etcd, members, HAProxy
    # and Redis nodes only while the platform runs there after a region loss (platform/local/region.py).
    dr_etcd_client: int = 25358
    dr_etcd_peer: int = 25359
    dr_haproxy_rw: int = 25360
    dr_haproxy_ro: int = 25361
    dr_haproxy_stats: int = 25362
    dr_postgres: tuple[int, ...] = (25461, 25462, 25463)
    dr_restore: int = 25464
    dr_patroni: tuple[int, ...] = (25471, 25472, 25473)
    dr_redis: tuple[int, ...] = (25481, 25482, 25483, 25484, 25485, 25486)
    dr_redis_bus: tuple[int, ...] = (25491, 25492, 25493, 25494, 25495, 25496)
    dr_s3: int = 25350
    dr_s3_grpc: int = 25351
    dr_weed_master: int = 25352
    dr_weed_master_grpc: int = 25353
    dr_weed_volume: int = 25354
    dr_weed_volume_grpc: int = 25355
    dr_weed_filer: int = 25356
    dr_weed_filer_grpc: int = 25357

    def swapped(self) -> Ports:
        """The same ports seen from the backup region: each regional port traded with its dr_ twin, so the
        backup region's parts run the primary's own code on their own ports (the global endpoint stays)."""
        changes: dict[str, object] = {}
        for f in dataclasses.fields(self):
            if f.name.startswith("dr_"):
                base = f.name[3:]
                changes[base], changes[f.name] = getattr(self, f.name), getattr(self, base)
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def all(self) -> dict[str, int]:
        """Every port by a readable owner name, e.g. 'postgres[pg2]' -> 25442."""
        out: dict[str, int] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                for i, port in enumerate(value):
                    out[f"{f.name}[{i + 1}]"] = port
            else:
                out[f.name] = value
        return out


@dataclass(frozen=True)
class Targets:
    """Disaster-recovery targets from the spec: RTO 15 minutes, RPO 1 hour."""

    rto_seconds: float = 900.0
    rpo_seconds: float = 3600.0


@dataclass(frozen=True)
class BackupPolicy:
    """The spec's schedule and retention, kept as data so drills can compare it with the live repo."""

    full_schedule: str = "0 2 * * 0"  # weekly, Sundays 02:00 UTC
    incr_schedule: str = "0 */6 * * *"  # every 6 hours
    full_retention_days: int = 90
    incr_retention_days: int = 7
    cipher_type: str = "aes-256-cbc"
    bucket: str = "waqiti-postgres-backups"
    stanza: str = "waqiti"


REPLICATION_METHODS = ("sync", "repo2")


@dataclass(frozen=True)
class BackupRegion:
    """The spec's multi-region set-up: where the backups are replicated to, and how.

    `sync`: a scheduled `aws s3 sync` copies the whole backup bucket to the backup region (the spec's
    "automated S3 sync"). `repo2`: pgBackRest writes WAL and backups to the backup region's store itself
    (a second repository), and the sync copies only the Redis backups.
    """

    enabled: bool = True
    primary: str = "us-west-2"
    backup: str = "us-east-1"
    replication: str = "sync"
    sync_interval_seconds: float = 60.0


@dataclass(frozen=True)
class MonitoringSettings:
    """How often Prometheus scrapes and evaluates, and how long Alertmanager holds a new alert.

    The defaults are small enough for a drill (a detection budget is `for` + scrape + evaluation +
    group_wait), and are recorded with every result. Production typically runs 15-30 s and 30 s.
    """

    enabled: bool = True
    scrape_interval: float = 5.0
    evaluation_interval: float = 5.0
    group_wait: float = 1.0
    group_interval: float = 5.0
    repeat_interval: float = 3600.0
    rules_file: str = ""  # "" means the checkout's monitoring/alerts.rules.yml

    @property
    def rules_path(self) -> Path:
        return Path(self.rules_file) if self.rules_file else DEFAULT_RULES_FILE


# The alert rules every stack loads, one file in the repository (Prometheus rule format).
DEFAULT_RULES_FILE = Path(__file__).resolve().parents[2] / "monitoring" / "alerts.rules.yml"


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    ports: Ports = field(default_factory=Ports)
    targets: Targets = field(default_factory=Targets)
    backup: BackupPolicy = field(default_factory=BackupPolicy)
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    region: BackupRegion = field(default_factory=BackupRegion)
    host: str = "127.0.0.1"
    # The unprivileged account database processes run as when the harness runs as root.
    run_user: str = "postgres"
    # "netns": each PostgreSQL member in its own network namespace (root only), so a member or the DCS
    # can really be partitioned; "loopback": everything on 127.0.0.1. load_settings resolves "auto".
    network: str = "loopback"
    # As root, each PostgreSQL member's directory is an ext4 filesystem of this size (a loop-mounted,
    # fully allocated image under the state directory), so a disk-full fault fills only that.
    disk_mib: int = 1024
    database: str = "waqiti"
    app_user: str = "waqiti_user"
    scope: str = "waqiti-postgres"


def default_state_dir() -> Path:
    """Root's default lives where the database user can reach it; others use XDG state."""
    if os.geteuid() == 0:
        return Path("/var/lib/waqiti-drill")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "waqiti-drill"


def load_settings(state_dir: str | None = None, config_file: str | None = None) -> Settings:
    """Settings from defaults, then the config file, then explicit arguments and DRILL_* variables."""
    raw_state = state_dir or os.environ.get("DRILL_STATE_DIR")
    path = config_file or os.environ.get("DRILL_CONFIG")
    overrides: dict = _read_config_file(Path(path)) if path else {}
    file_state = overrides.pop("state_dir", None)
    ports = _build(Ports, overrides.pop("ports", {}), path or "")
    targets = _build(Targets, overrides.pop("targets", {}), path or "")
    monitoring = build_monitoring(overrides.pop("monitoring", {}), path or "defaults",
                                  Path(path).parent if path else Path.cwd())
    region = resolve_region(overrides.pop("backup_region", {}), path or "defaults")
    settings_kwargs = {}
    for key in ("run_user",):
        if key in overrides:
            settings_kwargs[key] = str(overrides.pop(key))
    if "disk_mib" in overrides:
        settings_kwargs["disk_mib"] = resolve_disk_mib(overrides.pop("disk_mib"), path or "defaults")
    settings_kwargs["network"] = resolve_network(overrides.pop("network", "auto"), path or "defaults")
    if overrides:
        raise InvalidConfig(f"{path}: unknown setting(s): {', '.join(sorted(overrides))}")
    chosen = Path(raw_state or file_state or default_state_dir()).expanduser().absolute()
    settings = Settings(state_dir=chosen, ports=ports, targets=targets, monitoring=monitoring, region=region,
                        **settings_kwargs)
    check_ports_distinct(settings.ports, path or "defaults")
    return settings


def resolve_disk_mib(value: object, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 64 <= value <= 1 << 20:
        raise InvalidConfig(f"{source}: 'disk_mib' must be an integer from 64 to 1048576, got {value!r}")
    return value


# [monitoring] key -> (smallest, largest) seconds
_MONITORING_SECONDS = {"scrape_interval": (1.0, 300.0), "evaluation_interval": (1.0, 300.0),
                       "group_wait": (0.0, 600.0), "group_interval": (1.0, 3600.0),
                       "repeat_interval": (60.0, 7 * 86400.0)}


def build_monitoring(values: object, source: str, base_dir: Path) -> MonitoringSettings:
    """The [monitoring] table: intervals in seconds within sane bounds, `enabled`, `rules_file` (a relative
    path is relative to the config file's directory)."""
    if not isinstance(values, dict):
        raise InvalidConfig(f"{source}: [monitoring] must be a table")
    known = [f.name for f in dataclasses.fields(MonitoringSettings)]
    kwargs: dict[str, object] = {}
    for key, value in values.items():
        if key not in known:
            raise InvalidConfig(f"{source}: unknown key '{key}' in [monitoring]; valid: {', '.join(known)}")
        if key == "enabled":
            if not isinstance(value, bool):
                raise InvalidConfig(f"{source}: [monitoring] 'enabled' must be true or false, got {value!r}")
        elif key == "rules_file":
            if not isinstance(value, str) or not value:
                raise InvalidConfig(f"{source}: [monitoring] 'rules_file' must be a path, got {value!r}")
            value = str((base_dir / value).absolute())
        else:
            low, high = _MONITORING_SECONDS[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                raise InvalidConfig(f"{source}: [monitoring] '{key}' must be a number of seconds from {low:g} to "
                                    f"{high:g}, got {value!r}")
            value = float(value)
        kwargs[key] = value
    return MonitoringSettings(**kwargs)  # type: ignore[arg-type]
def resolve_region(values: object, source: str) -> BackupRegion:
    """The [backup_region] table: enabled, replication ("sync" | "repo2"), sync_interval_seconds, names."""
    if not isinstance(values, dict):
        raise InvalidConfig(f"{source}: [backup_region] must be a table")
    known = {f.name for f in dataclasses.fields(BackupRegion)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InvalidConfig(f"{source}: unknown key '{unknown[0]}' in [backup_region]; "
                            f"valid: {', '.join(sorted(known))}")
    enabled = values.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidConfig(f"{source}: 'enabled' in [backup_region] must be true or false, got {enabled!r}")
    method = values.get("replication", "sync")
    if method not in REPLICATION_METHODS:
        raise InvalidConfig(f"{source}: 'replication' in [backup_region] must be one of "
                            f"{', '.join(REPLICATION_METHODS)}, got {method!r}")
    interval = values.get("sync_interval_seconds", 60.0)
    if isinstance(interval, bool) or not isinstance(interval, int | float) or not 1 <= interval <= 86400:
        raise InvalidConfig(f"{source}: 'sync_interval_seconds' in [backup_region] must be 1..86400, got {interval!r}")
    names = {k: values.get(k, getattr(BackupRegion(), k)) for k in ("primary", "backup")}
    for key, name in names.items():
        if not isinstance(name, str) or not name.replace("-", "").isalnum():
            raise InvalidConfig(f"{source}: '{key}' in [backup_region] must be a region name like us-east-1")
    if names["primary"] == names["backup"]:
        raise InvalidConfig(f"{source}: the primary and backup regions must differ")
    return BackupRegion(enabled=enabled, replication=str(method), sync_interval_seconds=float(interval), **names)


NETWORK_MODES = ("auto", "netns", "loopback")


def resolve_network(value: object, source: str) -> str:
    """'auto' means namespaces when we are root (the only case where they can be made), else loopback."""
    if value not in NETWORK_MODES:
        raise InvalidConfig(f"{source}: 'network' must be one of {', '.join(NETWORK_MODES)}, got {value!r}")
    root = os.geteuid() == 0
    if value == "netns" and not root:
        raise InvalidConfig(f"{source}: network = 'netns' needs root (network namespaces and iptables)")
    if value == "auto":
        return "netns" if root else "loopback"
    return str(value)


def _read_config_file(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidConfig(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidConfig(f"{path}: not valid TOML: {exc}") from None


def _build(cls: type, values: dict, source: str) -> object:
    if not isinstance(values, dict):
        raise InvalidConfig(f"{source}: [{cls.__name__.lower()}] must be a table")
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            raise InvalidConfig(
                f"{source}: unknown key '{key}' in [{cls.__name__.lower()}]; valid: {', '.join(known)}"
            )
        default = getattr(cls(), key)
        kwargs[key] = _coerce(key, value, default, source)
    return cls(**kwargs)


def _coerce(key: str, value: object, default: object, source: str) -> object:
    if isinstance(default, tuple):
        if not isinstance(value, list) or len(value) != len(default):
            raise InvalidConfig(f"{source}: '{key}' must be a list of {len(default)} ports")
        return tuple(_port(key, v, source) for v in value)
    if isinstance(default, int) and not isinstance(default, bool):
        return _port(key, value, source)
    if isinstance(default, float):
        if not isinstance(value, int | float) or value <= 0:
            raise InvalidConfig(f"{source}: '{key}' must be a positive number, got {value!r}")
        return float(value)
    return value


def _port(key: str, value: object, source: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1024 <= value <= 65535:
        raise InvalidConfig(f"{source}: '{key}' must be a port number 1024..65535, got {value!r}")
    return value


def check_ports_distinct(ports: Ports, source: str) -> None:
    seen: dict[int, str] = {}
    for name, port in ports.all().items():
        if port in seen:
            raise InvalidConfig(f"{source}: port {port} is given to both {seen[port]} and {name}")
        seen[port] = name
