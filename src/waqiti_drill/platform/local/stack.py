"""LocalPlatform: the whole Waqiti platform as real servers on this machine (the `local` platform).

`up` is idempotent: what runs is kept, what died is started again, what was never created is
created. A failed `up` stops only what it started itself and names the log to read.
"""

from __future__ import annotations

import shutil
import signal

from waqiti_drill.config import Settings
from waqiti_drill.errors import DrillError, InvalidConfig, StateDirError
from waqiti_drill.platform.base import (
    BackupInfo,
    BackupType,
    PgMember,
    PlatformStatus,
    PostgresStatus,
    RedisNode,
    RedisStatus,
)
from waqiti_drill.platform.local.context import LocalContext, find_binary, require_ports_free
from waqiti_drill.platform.local.endpoints import Endpoints
from waqiti_drill.platform.local.etcd import Etcd
from waqiti_drill.platform.local.haproxy import HAProxy
from waqiti_drill.platform.local.layout import member, members
from waqiti_drill.platform.local.objectstore import ObjectStore
from waqiti_drill.platform.local.patroni import PatroniCluster, process_name
from waqiti_drill.platform.local.pgbackrest import BackupRepo, write_pgpass
from waqiti_drill.platform.local.pgroles import ensure_app_role_and_database
from waqiti_drill.platform.local.redis_cluster import RedisCluster
from waqiti_drill.platform.local.runas import check_reachable, resolve_run_user
from waqiti_drill.platform.local.statedir import ensure_state_dir, read_marker, state_lock
from waqiti_drill.platform.local.supervisor import Supervisor
from waqiti_drill.platform.local.tls import ensure_tls
from waqiti_drill.secrets import load_secrets
from waqiti_drill.waiting import wait_until

STOP_GRACE_SECONDS = 8.0


class LocalPlatform:
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
        return Etcd(ctx), PatroniCluster(ctx), HAProxy(ctx), RedisCluster(ctx), ObjectStore(ctx), BackupRepo(ctx)

    def endpoints(self) -> Endpoints:
        return Endpoints(self.context())

    # ----- lifecycle ---------------------------------------------------------------------------
    def up(self) -> PlatformStatus:
        check_reachable(self.user, self.settings.state_dir, "state directory")
        ensure_state_dir(self.settings)
        with state_lock(self.settings.state_dir, "drill up"):
            etcd, patroni, haproxy, redis, store, repo = self._parts(create=True)
            self._preflight(patroni)
            ctx = self.context()
            ensure_tls(ctx.state_dir, ctx.user, ctx.host)
            already = {n for n in self.supervisor.names() if self.supervisor.pid_of(n)}
            if not already:
                self._check_all_ports_free(etcd, haproxy, redis, store, patroni)
            try:
                self._start_all(etcd, patroni, haproxy, redis, store, repo)
            except DrillError as exc:
                started = [n for n in self.supervisor.names() if n not in already]
                self.supervisor.stop(started, STOP_GRACE_SECONDS)
                raise type(exc)(f"{exc} (logs: {self.supervisor.log_dir})") from None
        return self.status()

    def _preflight(self, patroni: PatroniCluster) -> None:
        find_binary("etcd", "the Debian package etcd-server")
        find_binary("haproxy", "the Debian package haproxy")
        find_binary("redis-server", "the Debian package redis-server")
        find_binary("redis-cli", "the Debian package redis-tools")
        find_binary("pgbackrest", "the Debian package pgbackrest")
        patroni.check_prerequisites()

    def _check_all_ports_free(self, *parts: object) -> None:
        for part in parts:
            if isinstance(part, PatroniCluster):
                for m in part.members:
                    require_ports_free(self.settings.host, part.ports(m), f"member {m.name}")
            else:
                require_ports_free(self.settings.host, part.ports(), type(part).__name__)  # type: ignore[attr-defined]

    def _start_all(self, etcd: Etcd, patroni: PatroniCluster, haproxy: HAProxy, redis: RedisCluster,
                   store: ObjectStore, repo: BackupRepo) -> None:
        ctx = self.context()
        write_pgpass(ctx)
        redis.render()
        store.render()
        repo.render(patroni.members)
        patroni.render(repo.archive_command)
        haproxy.render()
        # Start everything that does not depend on another part at once; wait afterwards.
        etcd.start()
        redis.start()
        store.start()
        haproxy.start()
        etcd.wait_ready(30)
        patroni.start()
        redis.wait_ready(60)
        store.wait_ready(60)
        patroni.wait_healthy(150)
        primary = patroni.primary()
        ensure_app_role_and_database(ctx, primary)
        repo.stanza_create(primary)
        repo.check(primary)
        self.endpoints().wait_ready(30)

    def down(self, purge: bool = False) -> bool:
        """Stop every process of the stack; with `purge` also remove the state. False: nothing was there."""
        state = self.settings.state_dir
        if read_marker(state) is None:
            return False
        with state_lock(state, "drill down"):
            names = self.supervisor.names()
            patronis = [n for n in names if n.startswith("patroni-")]
            others = [n for n in names if n not in patronis and n != "etcd"]
            # Patroni first (it stops PostgreSQL and needs the DCS to release its leader key), with the
            # rest in parallel; etcd last. Then anything still under the state directory is killed.
            self.supervisor.stop(patronis + others, STOP_GRACE_SECONDS)
            self.supervisor.stop(["etcd"], 3.0)
            self.supervisor.kill_everything_under(state)
        if purge:
            shutil.rmtree(state)
        return True

    # ----- status ------------------------------------------------------------------------------
    def status(self) -> PlatformStatus:
        etcd, patroni, _haproxy, redis, store, repo = self._parts()
        problems: list[str] = []
        try:
            pg_members = patroni.cluster_view()
        except OSError as exc:
            problems.append(f"postgres: {exc}")
            pg_members = [PgMember(m.name, "unknown", "unreachable", None, None, self.settings.host, m.port)
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
        ep = self.endpoints()
        return PlatformStatus(
            platform=self.name,
            postgres=PostgresStatus(members=pg_members, rw_dsn=ep.dsn(read_only=False), ro_dsn=ep.dsn(read_only=True)),
            redis=redis_status,
            s3=store.status(),
            backups=backups,
            problems=problems,
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

    def redis_status(self) -> RedisStatus:
        return self._parts()[3].status()

    # ----- NodeFaults --------------------------------------------------------------------------
    def kill_member(self, name: str) -> None:
        """Patroni and the whole postgres process tree at once, like a pod kill; returns when all are gone."""
        base = member(self.settings, name).base
        self.supervisor.signal_under(base, signal.SIGKILL)

        def gone() -> tuple[bool, list[int]]:
            left = self.supervisor.signal_under(base, signal.SIGKILL)
            return not left, left

        wait_until(gone, 10.0, f"every process of member {name} to exit after SIGKILL", interval=0.05)

    def stop_member(self, name: str) -> None:
        self.supervisor.stop([process_name(member(self.settings, name))], 30.0)

    def start_member(self, name: str) -> None:
        self._parts()[1].start_member(member(self.settings, name))

    def freeze_member(self, name: str) -> None:
        self.supervisor.freeze_under(member(self.settings, name).base)

    def thaw_member(self, name: str) -> None:
        self.supervisor.signal_under(member(self.settings, name).base, signal.SIGCONT)

    def switchover(self, candidate: str | None = None) -> None:
        if candidate is not None:
            member(self.settings, candidate)  # an unknown name fails listing the valid ones
        self._parts()[1].switchover(candidate)

    def _redis(self, address: str) -> RedisCluster:
        redis = self._parts()[3]
        if address not in redis.addresses():
            raise InvalidConfig(f"unknown Redis node '{address}'; valid: {', '.join(redis.addresses())}")
        return redis

    def kill_redis_node(self, address: str) -> None:
        self._redis(address).kill_node(address)

    def start_redis_node(self, address: str) -> None:
        self._redis(address).start_node(address)

    def freeze_redis_node(self, address: str) -> None:
        self._redis(address).freeze_node(address)

    def thaw_redis_node(self, address: str) -> None:
        self._redis(address).thaw_node(address)

    def resume_all(self) -> list[str]:
        """SIGCONT every stopped process of the stack (what a killed freeze left); names what was stopped."""
        stopped = self.supervisor.stopped_under(self.settings.state_dir)
        self.supervisor.signal_under(self.settings.state_dir, signal.SIGCONT)
        return stopped

    def stop_object_store(self) -> None:
        """The S3 store goes away (its process tree stopped), as when the bucket's region is down."""
        self._parts()[4].stop()

    def object_store_answers(self) -> bool:
        """HEAD of the backup bucket over TLS with the real keys, without retries."""
        store = self._parts()[4]
        try:
            store.client(fast_fail=True).head_bucket(Bucket=self.settings.backup.bucket)
        except Exception:  # noqa: BLE001 - any failure means the store does not answer
            return False
        return True

    def start_object_store(self) -> None:
        store = self._parts()[4]
        store.start()
        store.wait_ready(60)

    # ----- Backups -----------------------------------------------------------------------------
    def backup(self, kind: BackupType, timeout: float = 3600.0) -> BackupInfo:
        _etcd, patroni, *_rest, repo = self._parts()
        return repo.backup(kind, patroni.primary(), timeout)

    def list_backups(self) -> list[BackupInfo]:
        return self._parts()[5].list_backups()


def member_names(settings: Settings) -> list[str]:
    return [m.name for m in members(settings)]
