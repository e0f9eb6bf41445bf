"""LocalPlatform: the whole Waqiti platform as real servers on this machine (the `local` platform).

`up` is idempotent: what runs is kept, what died is started again, what was never created is
created. A failed `up` stops only what it started itself and names the log to read.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time

from waqiti_drill.config import Settings
from waqiti_drill.errors import DrillError, InvalidConfig, StateDirError
from waqiti_drill.platform.base import (
    BackupInfo,
    BackupType,
    PgMember,
    PlatformStatus,
    PostgresStatus,
    RedisClientSettings,
    RedisNode,
    RedisStatus,
    RestoreInfo,
)
from waqiti_drill.platform.local import atrest, siteloss
from waqiti_drill.platform.local.conformance import LocalConformance
from waqiti_drill.platform.local.context import LocalContext, find_binary, require_ports_free
from waqiti_drill.platform.local.director import Director
from waqiti_drill.platform.local.disks import MemberDisks, disks_enabled, mounts_under
from waqiti_drill.platform.local.endpoints import Endpoints
from waqiti_drill.platform.local.etcd import Etcd
from waqiti_drill.platform.local.faults import LocalFaults
from waqiti_drill.platform.local.haproxy import HAProxy
from waqiti_drill.platform.local.monitoring.platform import LocalMonitoring
from waqiti_drill.platform.local.monitoring.stack import MonitoringStack
from waqiti_drill.platform.local.netns import StackNetwork, check_network_tools
from waqiti_drill.platform.local.netplan import S3_HOST_NAME, plan_network
from waqiti_drill.platform.local.objectstore import ObjectStore
from waqiti_drill.platform.local.patroni import PatroniCluster
from waqiti_drill.platform.local.pgbackrest import BackupRepo, write_pgpass
from waqiti_drill.platform.local.pgroles import ensure_app_role_and_database
from waqiti_drill.platform.local.redis_access import client_settings
from waqiti_drill.platform.local.redis_cluster import RedisCluster
from waqiti_drill.platform.local.region import backup_addresses, backup_context, read_state
from waqiti_drill.platform.local.regions import LocalRegions
from waqiti_drill.platform.local.regionsync import RegionSync, aws_binary
from waqiti_drill.platform.local.restore import RestoreCopy, choose_set, parse_utc
from waqiti_drill.platform.local.runas import check_reachable, resolve_run_user
from waqiti_drill.platform.local.security import LocalSecurity
from waqiti_drill.platform.local.statedir import ensure_state_dir, read_marker, state_lock
from waqiti_drill.platform.local.supervisor import Supervisor
from waqiti_drill.platform.local.tls import ensure_tls
from waqiti_drill.secrets import load_secrets
from waqiti_drill.timefmt import now_utc_iso

STOP_GRACE_SECONDS = 8.0


class LocalPlatform(LocalFaults, LocalConformance, LocalMonitoring, LocalRegions, LocalSecurity):
    name = "local"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.user = resolve_run_user(settings.run_user)
        self.supervisor = Supervisor(settings.state_dir, self.user)
        self._ctx: LocalContext | None = None

    # ----- parts -------------------------------------------------------------------------------
    def context(self, create: bool = False) -> LocalContext:
        if self._ctx is None:
            if not create and read_marker(self.settings.state_dir) is None:
                raise StateDirError(f"no stack in {self.settings.state_dir}: run 'drill up' first")
            secrets = load_secrets(self.settings.state_dir / "secrets.json", create=create)
            self._ctx = LocalContext(self.settings, secrets, self.user, self.supervisor)
        return self._ctx

    def _parts(self, create: bool = False) -> tuple[Etcd, PatroniCluster, HAProxy, RedisCluster, ObjectStore,
                                                    BackupRepo]:
        ctx = self.context(create)
        region = self.settings.region
        if not create and region.enabled and read_state(self.settings).active == region.backup:
            ctx = backup_context(ctx)  # failed over: the platform's parts are the backup region's
        return Etcd(ctx), PatroniCluster(ctx), HAProxy(ctx), RedisCluster(ctx), ObjectStore(ctx), BackupRepo(ctx)

    def endpoints(self) -> Endpoints:
        return Endpoints(self.context())

    # ----- lifecycle ---------------------------------------------------------------------------
    def up(self) -> PlatformStatus:
        """Idempotent start. After a region loss it fails back to the normal shape (see regions.py)."""
        check_reachable(self.user, self.settings.state_dir, "state directory")
        ensure_state_dir(self.settings)
        if self.settings.region.enabled and read_state(self.settings).lost:
            self.context(create=True)
            return self.recover_region_on_up()
        with state_lock(self.settings.state_dir, "drill up"):
            self._up_primary_locked()
        return self.status()

    def _up_primary(self) -> None:
        """The primary region's start, under the state lock (failback's last step)."""
        with state_lock(self.settings.state_dir, "drill up"):
            self._up_primary_locked()

    def _up_primary_locked(self) -> None:
        etcd, patroni, haproxy, redis, store, repo = self._parts(create=True)
        self._preflight(patroni)
        ctx = self.context()
        names = [S3_HOST_NAME] if ctx.net.isolated else []
        extra = backup_addresses(self.settings) if self.settings.region.enabled else []
        already = {n for n in self.supervisor.names() if self.supervisor.pid_of(n)}
        ensure_tls(ctx.state_dir, ctx.user, [*ctx.net.addresses(), *extra], names, sorted(already))
        if not already:
            director, backup_store, _sync = self._global_parts()
            global_parts = [] if director is None or backup_store is None else [
                part for part, running in ((director, self.supervisor.pid_of("endpoint")),
                                           (backup_store, backup_store.running())) if not running]
            self._check_all_ports_free(etcd, haproxy, redis, store, patroni, MonitoringStack(ctx), *global_parts)
        try:
            self._ensure_network()
            MemberDisks(self.settings, self.user).ensure()
            self._start_all(etcd, patroni, haproxy, redis, store, repo)
        except DrillError as exc:
            started = [n for n in self.supervisor.names() if n not in already]
            self.supervisor.stop(started, STOP_GRACE_SECONDS)
            if not already:
                with contextlib.suppress(DrillError):
                    self._remove_network()
                with contextlib.suppress(DrillError):
                    MemberDisks(self.settings, self.user).unmount_all()
                with contextlib.suppress(DrillError):
                    self.stop_backup_region()
            raise type(exc)(f"{exc} (logs: {self.supervisor.log_dir})") from None

    def _ensure_network(self) -> None:
        """Create or reuse the namespaces, and lift partitions a crashed drill left: `up` means reachable."""
        net = self.context().net
        if net.isolated:
            StackNetwork(net).ensure()
            self._partitions().heal()

    def _remove_network(self) -> list[str]:
        """Whatever network of this stack exists, whichever mode made it (only root can have made one)."""
        if os.geteuid() != 0:
            return []
        return StackNetwork(plan_network(self.settings)).remove()

    def _preflight(self, patroni: PatroniCluster) -> None:
        find_binary("etcd", "the Debian package etcd-server")
        find_binary("haproxy", "the Debian package haproxy")
        find_binary("redis-server", "the Debian package redis-server")
        find_binary("redis-cli", "the Debian package redis-tools")
        find_binary("pgbackrest", "the Debian package pgbackrest")
        if self.settings.region.enabled:
            aws_binary()
        patroni.check_prerequisites()
        MonitoringStack(self.context()).check_prerequisites()  # binaries, and the rules file through promtool
        if self.context().net.isolated:
            check_network_tools()

    def _check_all_ports_free(self, *parts: object) -> None:
        for part in parts:
            if isinstance(part, PatroniCluster):
                for m in part.members:
                    if m.netns is None:  # a member's own namespace has nothing else in it
                        require_ports_free(m.host, part.ports(m), f"member {m.name}")
            else:
                require_ports_free(self.settings.host, part.ports(), type(part).__name__)  # type: ignore[attr-defined]

    def _start_all(self, etcd: Etcd, patroni: PatroniCluster, haproxy: HAProxy, redis: RedisCluster,
                   store: ObjectStore, repo: BackupRepo) -> None:
        ctx = self.context()
        write_pgpass(ctx)
        redis.render()
        store.render()
        repo.render(patroni.members)
        lost = siteloss.is_lost(self.settings)  # rebuild from the repository, not initdb (see siteloss.py)
        patroni.render(repo.archive_command, siteloss.bootstrap_commands(ctx, repo) if lost else None)
        haproxy.render()
        director, backup_store, sync = self._global_parts()
        # Start everything that does not depend on another part at once; wait afterwards.
        etcd.start()
        redis.start()
        store.start()
        haproxy.start()
        monitoring = MonitoringStack(ctx)
        monitoring.start_servers()
        if director is not None:
            director.point_at(*self.serving_region())  # started, or re-pointed when it names another region
        if backup_store is not None:
            backup_store.start()
        etcd.wait_ready(30)
        patroni.start()
        redis.wait_ready(60)
        store.wait_ready(60)
        patroni.wait_healthy(self.settings.targets.rto_seconds if lost else 150)
        primary = patroni.primary()
        ensure_app_role_and_database(ctx, primary)
        if backup_store is not None:
            backup_store.wait_ready(60)  # repo2, when configured, is in it
        repo.stanza_create(primary)
        repo.check(primary)
        self.endpoints().wait_ready(30)
        monitoring.start_postgres_exporters(primary)
        monitoring.wait_ready(60)
        if lost:
            siteloss.clear(self.settings)
        if sync is not None:
            sync.start()

    def _global_parts(self) -> tuple[Director | None, ObjectStore | None, RegionSync | None]:
        """The global endpoint, the backup region's object store and the sync feeding it (when enabled)."""
        if not self.settings.region.enabled:
            return None, None, None
        ctx = self.context()
        backup = backup_context(ctx)
        return Director(ctx), ObjectStore(backup), RegionSync(ctx, backup)

    def down(self, purge: bool = False) -> bool:
        """Stop every process of the stack; with `purge` also remove the state. False: nothing was there."""
        state = self.settings.state_dir
        if read_marker(state) is None:
            return False
        with state_lock(state, "drill down"):
            backup_region = threading.Thread(target=self.stop_backup_region, name="stop-backup-region")
            backup_region.start()  # in parallel: each object store takes its grace period to stop
            names = self.supervisor.names()
            patronis = [n for n in names if n.startswith("patroni-")]
            others = [n for n in names if n not in patronis and n != "etcd"]
            # Patroni first (it stops PostgreSQL and needs the DCS to release its leader key), with the
            # rest in parallel; etcd last. Then anything still under the state directory is killed.
            self.supervisor.stop(patronis + others, STOP_GRACE_SECONDS)
            self.supervisor.stop(["etcd"], 3.0)
            backup_region.join()
            self.supervisor.kill_everything_under(state)
            self._remove_network()
            MemberDisks(self.settings, self.user).unmount_all()
            left = mounts_under(state)
            if left and purge:
                raise StateDirError(f"still mounted under {state}: {', '.join(map(str, left))}; not purging")
        if purge:
            shutil.rmtree(state)
        return True

    def parts_down(self) -> list[str]:
        """Processes the supervisor started that are no longer alive (a stopped one has no pidfile)."""
        down = [name for name in self.supervisor.names() if self.supervisor.pid_of(name) is None]
        region = self.settings.region
        if region.enabled and (self.settings.state_dir / "regions" / region.backup).exists():
            sup = backup_context(self.context()).supervisor
            down += [f"{self.settings.region.backup}: {n}" for n in sup.names() if sup.pid_of(n) is None]
        return down

    # ----- status ------------------------------------------------------------------------------
    def status(self) -> PlatformStatus:
        etcd, patroni, _haproxy, redis, store, repo = self._parts()
        problems: list[str] = []
        problems += self.region_problems()
        if siteloss.is_lost(self.settings) and not read_state(self.settings).lost:
            problems.append(f"postgres: the cluster was destroyed at {siteloss.lost_since(self.settings)} and is "
                            "not yet rebuilt from the repository ('drill heal' or 'drill up' rebuilds it)")
        try:
            pg_members = patroni.cluster_view()
        except OSError as exc:
            problems.append(f"postgres: {exc}")
            pg_members = [PgMember(m.name, "unknown", "unreachable", None, None, m.host, m.port)
                          for m in patroni.members]
        try:
            redis_status = redis.status()
        except Exception as exc:  # noqa: BLE001 - any client error means "not answering"
            problems.append(f"redis: {type(exc).__name__}: {exc}")
            redis_status = RedisStatus(nodes=[], cluster_state="unreachable", slots_covered=0)
        backups: list[BackupInfo] = []
        try:
            backups = repo.list_backups()
        except DrillError as exc:
            problems.append(f"backups: {exc}")
        faults: list[str] = []
        try:
            faults = self.network_faults()
        except DrillError as exc:
            problems.append(f"network: {exc}")
        disk_faults: list[str] = []
        try:
            disk_faults = self.disk_faults()
        except OSError as exc:
            problems.append(f"disks: {exc}")
        monitoring, monitoring_problems = self._monitoring_view()
        problems += monitoring_problems
        ep = self.endpoints()
        return PlatformStatus(
            platform=self.name,
            postgres=PostgresStatus(members=pg_members, rw_dsn=ep.dsn(read_only=False), ro_dsn=ep.dsn(read_only=True)),
            redis=redis_status,
            s3=store.status(),
            backups=backups,
            problems=problems,
            network_faults=faults,
            disk_faults=disk_faults,
            monitoring=monitoring,
            monitoring_faults=self.monitoring_fault_lines(),
            notes=[] if disks_enabled() else [atrest.NEEDS_ROOT],
        )

    # ----- Topology ----------------------------------------------------------------------------
    def postgres_members(self) -> list[PgMember]:
        return self._parts()[1].cluster_view()

    def postgres_connect_kwargs(self, read_only: bool = False) -> dict[str, object]:
        return self.endpoints().connect_kwargs(read_only)

    def redis_nodes(self) -> list[RedisNode]:
        return self.redis_status().nodes

    def redis_password(self) -> str:
        return self.context().secrets.redis_password

    def redis_client_settings(self) -> RedisClientSettings:
        """TLS verified against the stack's CA, as the default ACL user (the application's)."""
        return client_settings(self.context())

    def redis_seed_nodes(self) -> list[str]:
        """The global Redis name (director.py) when the backup region is set up, else the nodes themselves."""
        if self.settings.region.enabled:
            return [f"{self.settings.host}:{self.settings.ports.endpoint_redis}"]
        return [n.address for n in self.redis_nodes()]

    def redis_status(self) -> RedisStatus:
        return self._parts()[3].status()

    def move_slots(self, source: str, target: str, count: int) -> int:
        """Migrate `count` slots and their keys from master `source` to master `target` (redis-cli reshard)."""
        return RedisCluster(self.context()).move_slots(source, target, count)

    def rebalance_redis_slots(self) -> None:
        """Even the Redis slots out over the masters again (redis-cli rebalance)."""
        RedisCluster(self.context()).rebalance()

    def close_open_slots(self) -> list[str]:
        """What a reshard cut short by a killed harness left: its redis-cli stopped, open slots closed."""
        return RedisCluster(self.context()).close_open_slots()

    def add_redis_master(self) -> str:
        """A seventh node joins as a master (an eighth as its replica) and the slots are rebalanced onto it."""
        from waqiti_drill.platform.local.redis_scale import RedisScaler

        return RedisScaler(self.context()).add_master()

    def remove_added_redis_nodes(self) -> list[str]:
        """Undo add_redis_master: slots moved off, both nodes out of the cluster and stopped (idempotent)."""
        from waqiti_drill.platform.local.redis_scale import RedisScaler

        return RedisScaler(self.context()).remove_added()

    # ----- Backups -----------------------------------------------------------------------------
    def backup(self, kind: BackupType, timeout: float = 3600.0) -> BackupInfo:
        """A backup from the current primary; its outcome is pushed to the Pushgateway either way."""
        _etcd, patroni, *_rest, repo = self._parts()
        return self._backup_pushed(kind, lambda: repo.backup(kind, patroni.primary(), timeout))

    def list_backups(self) -> list[BackupInfo]:
        return self._parts()[5].list_backups()

    def archive_wal(self) -> None:
        """Close the current WAL segment and wait until it is in the repository (pgbackrest check)."""
        _etcd, patroni, *_rest, repo = self._parts()
        repo.check(patroni.primary())

    def verify_backups(self) -> str:
        return self._parts()[5].verify()

    def backups_readable_with(self, cipher_pass: str) -> tuple[bool, str]:
        return self._parts()[5].readable_with(cipher_pass)

    def expire_backups(self, now: str | None = None) -> list[str]:
        """The spec's retention as of `now` (default: now): fulls by pgBackRest's own clock (90 days),
        incremental chains older than 7 days by the harness (see BackupRepo.expire_incrementals)."""
        repo = self._parts()[5]
        repo.expire()
        return repo.expire_incrementals(parse_utc(now) if now else None)

    # ----- Restores ----------------------------------------------------------------------------
    def restore_copy(self, point_in_time: str | None = None, database: str = "waqiti_restored") -> RestoreInfo:
        """The newest set (or the one before `point_in_time`) restored into a copy beside the cluster."""
        return RestoreCopy(self.context()).restore(point_in_time, database)

    def restore_connect_kwargs(self, database: str = "waqiti_restored") -> dict[str, object]:
        return RestoreCopy(self.context()).connect_kwargs(database)

    def drop_restore_copy(self) -> None:
        RestoreCopy(self.context()).drop()

    def destroy_postgres(self) -> None:
        """Site loss: every member, its disk and its DCS state gone; only the repository is left."""
        with state_lock(self.settings.state_dir, "destroying the PostgreSQL cluster"):
            siteloss.destroy(self.context())

    def recover_postgres(self, timeout: float = 900.0) -> RestoreInfo:
        """Rebuild the lost cluster from the repository alone (the newest set and all archived WAL)."""
        if not siteloss.is_lost(self.settings):
            raise InvalidConfig("the PostgreSQL cluster is not lost: there is nothing to rebuild from the repository")
        chosen = choose_set(self.list_backups(), None)
        started, t0 = now_utc_iso(), time.monotonic()
        self.up()
        return RestoreInfo(target="cluster", backup=chosen, recovery_target="end of WAL", started=started,
                           finished=now_utc_iso(), seconds=round(time.monotonic() - t0, 3))

    def postgres_lost(self) -> bool:
        return siteloss.is_lost(self.settings)
