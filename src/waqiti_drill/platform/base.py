"""The target under test, as small capability interfaces that features and steps program against.

`local` (the embedded stack) implements them now; a `kubernetes` platform (CloudNativePG, a Redis
StatefulSet, backup CronJobs) implements the same ones later, so no feature or step changes.
Everything crossing this boundary is a plain dataclass, serialisable with `dataclasses.asdict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

PgRole = Literal["primary", "sync_standby", "replica", "unknown"]
RedisRole = Literal["master", "replica"]
BackupType = Literal["full", "incr", "diff"]


@dataclass(frozen=True)
class PgMember:
    name: str
    role: PgRole
    state: str  # Patroni's state: running, streaming, stopped, starting, ...
    timeline: int | None
    lag_bytes: int | None  # None where Patroni cannot tell (e.g. member down)
    host: str
    port: int


@dataclass(frozen=True)
class PostgresStatus:
    members: list[PgMember]
    rw_dsn: str  # libpq keyword string, never with a password
    ro_dsn: str


@dataclass(frozen=True)
class RedisNode:
    address: str  # host:port
    node_id: str
    role: RedisRole
    master_id: str | None  # for a replica, the node id of its master
    slots: list[list[int]]  # inclusive [start, end] ranges served (masters only)
    connected: bool  # the cluster's view: link state and no fail flag


@dataclass(frozen=True)
class RedisStatus:
    nodes: list[RedisNode]
    cluster_state: str  # "ok" or "fail", from CLUSTER INFO
    slots_covered: int


@dataclass(frozen=True)
class RedisClientSettings:
    """How a client reaches the platform's Redis, beside the address and the password (which travels
    separately, Topology.redis_password): over TLS with the servers' certificates verified against
    `ca_file`, as the ACL user `username`. On Kubernetes: the Redis service's CA bundle (a mounted
    Secret) and the application's ACL user."""

    tls: bool
    ca_file: str  # PEM bundle the server certificates are verified against; "" when not TLS
    username: str  # the ACL user the application authenticates as ("default": password-only AUTH)
    min_tls_version: str = "TLSv1.2"  # the lowest protocol the client offers


@dataclass(frozen=True)
class S3Status:
    endpoint: str
    bucket: str
    ca_file: str


@dataclass(frozen=True)
class BackupInfo:
    type: BackupType
    label: str
    start: str  # ISO 8601 UTC
    stop: str
    wal_start: str
    wal_stop: str
    size_bytes: int  # database size backed up
    repo_size_bytes: int  # what this set adds to the repository (compressed, encrypted; pgBackRest's delta)
    prior: str | None  # the backup it depends on (incr/diff)


@dataclass(frozen=True)
class RestoreInfo:
    """One restore from the repository: what was restored, from which set, to which point, how long."""

    target: str  # the restored copy's database (e.g. waqiti_restored), or "cluster" for a site recovery
    backup: BackupInfo  # the set restored from
    recovery_target: str  # "immediate" (the set's consistent point), an ISO 8601 UTC time, or "end of WAL"
    started: str  # ISO 8601 UTC
    finished: str
    seconds: float
    host: str = ""
    port: int = 0


@dataclass(frozen=True)
class ScrapeTarget:
    """One target as Prometheus sees it (/api/v1/targets)."""

    job: str
    instance: str
    labels: dict[str, str]  # what it watches: member, node, spare
    health: str  # up | down | unknown
    last_error: str
    last_scrape: str  # RFC 3339


@dataclass(frozen=True)
class ActiveAlert:
    """An alert pending or firing now (/api/v1/alerts)."""

    name: str
    labels: dict[str, str]
    state: str  # pending | firing
    active_at: str  # RFC 3339: the evaluation at which it became pending
    value: str


@dataclass(frozen=True)
class AlertSample:
    """One sample of Prometheus's ALERTS series: the alert was in `state` at the rule evaluation `at`."""

    name: str
    labels: dict[str, str]
    state: str  # pending | firing
    at: float  # epoch seconds, the evaluation's own timestamp


@dataclass(frozen=True)
class AlertNotification:
    """One alert in one notification the harness's receiver got from Alertmanager."""

    name: str
    labels: dict[str, str]
    status: str  # firing | resolved
    starts_at: str  # RFC 3339, as Prometheus sent it (the evaluation that fired it)
    ends_at: str  # RFC 3339; for a resolved alert, the evaluation that resolved it
    received_at: float  # epoch seconds: when the receiver got it (the "notified" instant)


@dataclass(frozen=True)
class MonitoringStatus:
    prometheus: str  # base URL
    alertmanager: str
    scrape_interval_seconds: float
    evaluation_interval_seconds: float
    group_wait_seconds: float
    group_interval_seconds: float
    rules_file: str
    rules_sha256: str
    targets: list[ScrapeTarget] = field(default_factory=list)
    alerts: list[ActiveAlert] = field(default_factory=list)


@dataclass(frozen=True)
class RedisShardBackup:
    """One master's RDB snapshot in the object store (encrypted by the harness before upload)."""

    node: str  # host:port of the master it was taken from
    node_id: str
    slots: list[list[int]]  # inclusive [start, end] ranges the master served when it was taken
    keys: int  # DBSIZE of the master when it was taken
    object_key: str
    size_bytes: int  # as stored (ciphertext)
    sha256: str  # of the stored object


@dataclass(frozen=True)
class RedisBackupInfo:
    """A Redis backup: one RDB per master, all taken by one run of the backup job."""

    label: str
    start: str  # ISO 8601 UTC
    stop: str
    region: str  # the region whose object store it was listed from
    encryption: str  # e.g. "AES-256-GCM (client side) + SSE-S3 AES256"
    shards: list[RedisShardBackup]
    complete: bool  # every shard object present with its recorded size (a sync may copy the manifest first)


@dataclass(frozen=True)
class RedisRestoreInfo:
    backup: RedisBackupInfo
    keys_restored: int
    seconds: float


@dataclass(frozen=True)
class ReplicationStatus:
    """How far the backup region's copy of the backups is behind the primary's, measured in both stores."""

    method: str  # "sync" (scheduled aws s3 sync) or "repo2" (pgBackRest's second repository)
    primary_region: str
    backup_region: str
    primary_newest_wal: str | None  # newest WAL segment archived in each region's bucket
    backup_newest_wal: str | None
    segments_behind: int  # primary segments the backup region does not have
    lag_seconds: float  # age of the oldest of them; 0 when the backup region has them all
    measured_at: str  # ISO 8601 UTC
    primary_newest_wal_at: str | None = None  # when the newest WAL segment reached the primary's store (archive lag)
    last_sync_started: str | None = None  # the scheduled sync's last run
    last_sync_finished: str | None = None
    last_sync_ok: bool | None = None
    last_sync_error: str | None = None


@dataclass(frozen=True)
class RegionStatus:
    primary: str
    backup: str
    active: str  # the region the global endpoint points at
    lost: str | None  # a region lost and not yet rebuilt
    lost_at: str | None


@dataclass(frozen=True)
class RegionMove:
    """A failover to the backup region, or the failback: from which copy each service came back."""

    from_region: str
    to_region: str
    postgres: RestoreInfo
    redis: RedisRestoreInfo | None  # None when no Redis backup was there to restore (nothing of Redis kept)
    started: str  # ISO 8601 UTC
    finished: str
    seconds: float
    steps: list[str]  # what was done, one line each, with its duration


@dataclass(frozen=True)
class PlatformStatus:
    platform: str
    postgres: PostgresStatus
    redis: RedisStatus
    s3: S3Status
    backups: list[BackupInfo] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # parts that did not answer, one line each
    network_faults: list[str] = field(default_factory=list)  # partitions in force, e.g. "member pg1", "dcs"
    disk_faults: list[str] = field(default_factory=list)  # members whose disk is filled, e.g. "pg1"
    monitoring: MonitoringStatus | None = None  # None when monitoring is disabled
    monitoring_faults: list[str] = field(default_factory=list)  # e.g. "replay paused on pg3", "connections held"
    notes: list[str] = field(default_factory=list)  # what the operator should know, e.g. a control that needs root


@dataclass(frozen=True)
class RepositoryEncryption:
    """What the object store itself answers about the backup repository's encryption at rest."""

    bucket_default: str  # the bucket's default server-side encryption algorithm ("none" without one)
    object_key: str  # the repository object examined (the backup catalogue)
    object_sse: str  # its ServerSideEncryption as the store reports it ("none" without one)
    client_encrypted: bool  # its bytes are the backup tool's own ciphertext (pgBackRest: begins Salted__)
    first_bytes: str  # repr of its first bytes, for the record


@dataclass(frozen=True)
class RedisAclUser:
    """One Redis ACL user as a node reports it (ACL GETUSER). Never its password: only how it is held."""

    name: str
    enabled: bool
    password: str  # "sha-256" (digests only), "nopass" (any password logs in), "none" (no login)
    keys: str  # key patterns, e.g. "~*"; "" for none
    channels: str  # Pub/Sub channel patterns, e.g. "&*"; "" for none
    commands: str  # e.g. "+@all -@dangerous"


@dataclass(frozen=True)
class BackupPolicyInForce:
    """The backup schedule and retention as the platform applies them (not as the spec says them)."""

    schedules: dict[str, str]  # job ("full", "incremental", "verify") -> cron expression
    full_retention_type: str
    full_retention_days: str
    incremental_retention_days: str
    cipher: str
    compression: str


@dataclass(frozen=True)
class SecuredEndpoint:
    """One network endpoint the platform promises TLS 1.2+ on (and nothing in plain text)."""

    name: str  # e.g. "postgres rw", "postgres pg1", "redis 127.0.0.1:25501", "etcd", "patroni pg1", "s3"
    host: str  # where the harness reaches it
    port: int
    protocol: Literal["postgres", "redis", "http"]  # how a plain-text attempt is made
    client_cert_required: bool  # mutual TLS: a client without a certificate of the platform's CA is refused


@dataclass(frozen=True)
class TlsTrust:
    """What a client of the platform needs for TLS: the CA its servers' certificates chain to, and the client
    certificate the harness presents where mutual TLS is required (None where none is)."""

    ca_file: str
    client_cert: str | None = None
    client_key: str | None = None


@dataclass(frozen=True)
class EncryptedVolume:
    """One volume holding data at rest, as the kernel reports its encryption (never from a config file)."""

    name: str  # e.g. "pg1", "redis"
    holds: str  # what lives on it, e.g. "PGDATA and pg_wal of pg1"
    device: str  # the raw bytes as the storage holds them (an image file, a block device)
    mount: str
    encrypted_dirs: list[str]  # directories under the policy
    policy: str  # e.g. "fscrypt v2, contents AES-256-XTS, filenames AES-256-CTS"; "none" when unencrypted
    key_present: bool  # the key is loaded, so the data is readable through the filesystem


@dataclass(frozen=True)
class RawScan:
    """A search of one volume's raw bytes (below the filesystem, where encryption applies) for a needle."""

    volume: str
    device: str
    bytes_scanned: int
    found: bool


@dataclass(frozen=True)
class AuditRecord:
    """One line of a database server's log that records an operation or a login (pgaudit, log_connections)."""

    member: str
    line: str


@dataclass(frozen=True)
class LoginRole:
    """A role that can log in, with the attributes least privilege is judged by (read from the catalog)."""

    name: str
    superuser: bool
    createrole: bool
    createdb: bool
    replication: bool
    bypassrls: bool
    password: str  # the stored verifier's scheme: "SCRAM-SHA-256", "md5", "plain" or "none"


@dataclass(frozen=True)
class NetworkAttempt:
    """A connection tried from an address outside the ones the platform's network policy allows."""

    target: str  # e.g. "postgres pg1 10.93.14.11:25441"
    source: str  # the outsider's address
    refused: bool  # refused or dropped at the network layer (no TCP connection was made)
    said: str  # what the attempt saw, e.g. "connection refused (TCP reset)", "connected"


class Lifecycle(Protocol):
    def up(self) -> PlatformStatus: ...
    def down(self, purge: bool = False) -> bool: ...  # False: there was no stack to stop
    def status(self) -> PlatformStatus: ...
    def parts_down(self) -> list[str]: ...  # parts that should run and do not, read cheaply (no server contact)


class Topology(Protocol):
    def postgres_members(self) -> list[PgMember]: ...
    def postgres_connect_kwargs(self, read_only: bool = False) -> dict[str, object]: ...
    def redis_nodes(self) -> list[RedisNode]: ...
    def redis_password(self) -> str: ...
    # What clients are configured with for Redis: the seed they discover the cluster from (the global
    # name, which the failover automation re-points), not the nodes themselves.
    def redis_seed_nodes(self) -> list[str]: ...
    # How the application's Redis client connects (TLS, CA, ACL user); the password is redis_password().
    def redis_client_settings(self) -> RedisClientSettings: ...


class NodeFaults(Protocol):
    """Node-level fault primitives; the chaostoolkit extension builds drills out of these."""

    def kill_member(self, name: str) -> None: ...
    def stop_member(self, name: str) -> None: ...
    def start_member(self, name: str) -> None: ...
    def freeze_member(self, name: str) -> None: ...
    def thaw_member(self, name: str) -> None: ...
    def switchover(self, candidate: str | None = None) -> None: ...
    def kill_redis_node(self, address: str) -> None: ...
    def start_redis_node(self, address: str) -> None: ...
    def freeze_redis_node(self, address: str) -> None: ...
    def thaw_redis_node(self, address: str) -> None: ...
    # Every Redis node killed at once (a cluster-wide crash), and all started again from their own
    # AOF + RDB files; the cluster re-forms by itself (nodes.conf), nothing is re-created.
    def kill_redis_cluster(self) -> list[str]: ...  # the nodes killed
    def start_redis_cluster(self, timeout: float = 120.0) -> None: ...  # returns once healthy

    # The DCS as a process: crashed (kill) or hung (freeze), and back.
    def kill_dcs(self) -> None: ...
    def start_dcs(self) -> None: ...
    def freeze_dcs(self) -> None: ...
    def thaw_dcs(self) -> None: ...

    # Real network partitions. Each returns once the change is in force; the processes keep running.
    # A platform that cannot partition (the local one without root) raises Unsupported.
    def isolate_member(self, name: str) -> None: ...
    def reconnect_member(self, name: str) -> None: ...  # idempotent
    def isolate_dcs(self) -> None: ...  # the DCS unreachable from every member
    def reconnect_dcs(self) -> None: ...
    def heal_network(self) -> list[str]: ...  # remove every partition left in force; what was removed
    def network_faults(self) -> list[str]: ...  # what is in force now, read from the system

    # A full disk: the filesystem holding the member's PGDATA and pg_wal filled to the last block, and
    # only that one (a bounded filesystem of the member's own). A platform without one raises Unsupported.
    def fill_disk(self, name: str) -> int: ...  # bytes written; returns once the filesystem is full
    def free_disk(self, name: str) -> None: ...  # idempotent
    def disk_faults(self) -> list[str]: ...  # members whose disk is filled now, read from the system


class ServiceFaults(Protocol):
    """Faults of whole services, and the sweep that resumes whatever a killed drill left frozen."""

    def stop_object_store(self) -> None: ...
    def start_object_store(self) -> None: ...
    def object_store_answers(self) -> bool: ...
    def resume_all(self) -> list[str]: ...


class Backups(Protocol):
    def backup(self, kind: BackupType, timeout: float = 3600.0) -> BackupInfo: ...
    def list_backups(self) -> list[BackupInfo]: ...
    def archive_wal(self) -> None: ...  # switch WAL on the primary and wait until the segment is archived


class Restores(Protocol):
    """Restores from the backup repository: into a separate copy, and of the whole cluster after its loss."""

    # A copy restored beside the cluster, its database renamed `database` (the spec's restore job's
    # TARGET_DATABASE). `point_in_time` (ISO 8601 UTC) recovers to that instant from the newest set that
    # finished before it; None restores the newest set to its consistent point. Never archives into the
    # repository. Returns once the copy accepts connections (restore_connect_kwargs).
    def restore_copy(self, point_in_time: str | None = None, database: str = "waqiti_restored") -> RestoreInfo: ...
    def restore_connect_kwargs(self, database: str = "waqiti_restored") -> dict[str, object]: ...
    def drop_restore_copy(self) -> None: ...  # idempotent
    def verify_backups(self) -> str: ...  # every file in the repository read back and checked
    def backups_readable_with(self, cipher_pass: str) -> tuple[bool, str]: ...  # (readable, what the tool said)
    def expire_backups(self, now: str | None = None) -> list[str]: ...  # retention applied as of `now`; expired

    # The whole PostgreSQL cluster lost (every member, its disk, its state in the DCS), and rebuilt from
    # the object store alone: the first member restores the newest set and replays all archived WAL.
    def destroy_postgres(self) -> None: ...
    def recover_postgres(self, timeout: float = 900.0) -> RestoreInfo: ...
    def postgres_lost(self) -> bool: ...  # destroyed and not yet recovered


class RedisBackups(Protocol):
    """The spec's Redis backup job: an RDB snapshot of every master, encrypted, in the object store."""

    def backup_redis(self) -> RedisBackupInfo: ...
    def list_redis_backups(self) -> list[RedisBackupInfo]: ...


class Regions(Protocol):
    """The spec's multi-region set-up: a primary and a backup region, the backups replicated between them
    and failover automation that moves the clients (one global name, re-pointed)."""

    def region_status(self) -> RegionStatus: ...
    def list_redis_backups_in_backup_region(self) -> list[RedisBackupInfo]: ...  # its copy, as the sync left it
    def replication_status(self) -> ReplicationStatus: ...
    def replicate_now(self, timeout: float = 300.0) -> ReplicationStatus: ...  # one scheduled sync, now
    # The primary region lost at once: every member and its disk, etcd, its object store, its HAProxy,
    # its Redis nodes and their files, the sync job. Only the backup region's store (and the global
    # endpoint, secrets and PKI, which are global) is left. One line per thing destroyed.
    def lose_primary_region(self) -> list[str]: ...
    # Rebuild PostgreSQL and Redis in the backup region from its copy of the backups alone, then
    # re-point the global endpoint: the workload follows without being restarted.
    def fail_over_region(self, timeout: float = 900.0) -> RegionMove: ...
    # Back to the normal shape from wherever things stand (failed over, or lost and not yet failed
    # over): writes paused, the backup region's data copied back, the primary rebuilt from it, the
    # endpoint re-pointed, the backup region's cluster removed. Idempotent.
    def fail_back_region(self, timeout: float = 900.0) -> RegionMove | None: ...


class RedisOps(Protocol):
    def redis_status(self) -> RedisStatus: ...

    # Resharding while clients keep writing. Moved slots are not a fault to undo (nothing is broken);
    # `rebalance_redis_slots` evens the slots out again afterwards. Both return once every node agrees,
    # says ok and all 16384 slots are served; bad arguments raise InvalidConfig before anything is touched.
    def move_slots(self, source: str, target: str, count: int) -> int: ...  # masters host:port; slots moved
    def rebalance_redis_slots(self) -> None: ...
    def close_open_slots(self) -> list[str]: ...  # what a reshard cut short left; what was done
    # Scaling out: one more master (and its replica) joins and takes its share of the slots; the undo
    # (part of the heal) moves the slots back and removes both, leaving the spec's six nodes.
    def add_redis_master(self) -> str: ...  # the new master's host:port
    def remove_added_redis_nodes(self) -> list[str]: ...  # idempotent; what was done


class Conformance(Protocol):
    """Read-only views of the live configuration for the deployment drills, each read from the system that
    applies it (on Kubernetes: the Cluster resource, the Redis pods, the backup CronJobs). Never a secret:
    a password setting reads as "set" or "not set"."""

    def ha_config(self) -> dict[str, object]: ...  # the HA manager's cluster-wide settings (Patroni's /config)
    def redis_node_config(self, address: str, names: list[str]) -> dict[str, str | None]: ...  # CONFIG GET
    def redis_cluster_info(self) -> dict[str, str]: ...  # CLUSTER INFO of a node that answers
    def redis_acl_users(self, address: str) -> list[RedisAclUser]: ...  # every ACL user of the node
    # Whether `user` may run `command` on the node, asked without running it (ACL DRYRUN): "" when it may,
    # else the server's refusal.
    def redis_acl_dryrun(self, address: str, user: str, command: list[str]) -> str: ...
    def repository_encryption(self) -> RepositoryEncryption: ...
    def backup_policy(self) -> BackupPolicyInForce: ...
    def component_versions(self) -> dict[str, str]: ...  # component -> version, from servers or binaries


class Monitoring(Protocol):
    """What the platform's monitoring saw (on Kubernetes: the Prometheus operator's Prometheus and
    Alertmanager, a receiver of the harness's own). Every instant is epoch seconds of the wall clock."""

    def monitoring_status(self) -> MonitoringStatus: ...
    def active_alerts(self) -> list[ActiveAlert]: ...
    def alert_samples(self, since: float, until: float) -> list[AlertSample]: ...  # the ALERTS series, raw
    def alert_notifications(self, since: float) -> list[AlertNotification]: ...  # received at or after `since`
    # Refused logins per member over the failed-login alert's window, as the monitoring has them now
    def refused_logins_in_window(self) -> dict[str, float]: ...


class MonitoringFaults(Protocol):
    """The conditions the critical alerts watch for, induced for real and undone (each undo idempotent)."""

    def pause_replay(self, name: str) -> None: ...  # WAL replay stopped on a replica while WAL keeps arriving
    def resume_replay(self, name: str) -> None: ...
    def replay_paused(self) -> list[str]: ...  # members whose replay is paused now
    def fill_disk_to(self, name: str, percent: float) -> int: ...  # the member's own filesystem to percent used
    def hold_connections(self, name: str, fraction: float) -> int: ...  # client connections up to fraction
    def release_connections(self) -> int: ...  # how many held connections were closed
    def connections_held(self) -> list[str]: ...  # members with connections held by the harness
    def attempt_failed_logins(self, name: str, count: int) -> int: ...  # logins with a wrong password, refused
    def switch_wal(self) -> str: ...  # close the primary's current WAL segment (it must be archived now); its name


class Security(Protocol):
    """The spec's security promises, read from the live platform for the security drills (on Kubernetes:
    the Services and their certificates, the volumes' StorageClass encryption, CloudNativePG's logs, the
    NetworkPolicies, probed from a pod outside them). Each answer comes from the running system."""

    def secured_endpoints(self) -> list[SecuredEndpoint]: ...
    def plaintext_endpoints(self) -> list[str]: ...  # plain-text by design (loopback only, no data), each with why
    def tls_trust(self) -> TlsTrust: ...
    def encrypted_volumes(self) -> list[EncryptedVolume]: ...
    def flush_to_disk(self) -> None: ...  # checkpoint, Redis AOF fsync, filesystem sync: what is written is on disk
    def scan_volumes(self, needle: bytes) -> list[RawScan]: ...  # after flush_to_disk
    # A file holding `needle` outside the encrypted directories of every volume: what shows a scan of the raw
    # bytes would find plain text there (the control of the at-rest check). Where it was written, one per volume.
    def plant_unencrypted(self, needle: bytes) -> list[str]: ...
    def audit_log(self, since: float) -> list[AuditRecord]: ...  # database server log lines since an epoch
    def login_roles(self) -> list[LoginRole]: ...
    def md5_login(self) -> tuple[bool, str]: ...  # a role with an md5 password tries to log in: (refused, said)
    def connect_from_outside(self) -> list[NetworkAttempt]: ...


class Platform(Lifecycle, Topology, NodeFaults, ServiceFaults, Backups, Restores, RedisOps, RedisBackups, Regions,
               Conformance, Monitoring, MonitoringFaults, Security, Protocol):
    """Everything a drill may ask of its target."""

    name: str
