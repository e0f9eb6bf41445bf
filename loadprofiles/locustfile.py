"""Locust users that behave like the Waqiti payments platform, every operation recorded in the history.

Run by the harness (`drill load`, the drill steps) as its own process: Locust monkey-patches with
gevent when it is imported, before this file is loaded, so psycopg (imported below, after patching)
waits cooperatively and one slow query never blocks the other users.

Environment (set by waqiti_drill.workload.runner):
    DRILL_WORKLOAD_TARGETS  path of the targets JSON (endpoints, run id, history directory)
    DRILL_POSTGRES_PASSWORD, DRILL_REDIS_PASSWORD
    DRILL_LOAD_PROFILE      steady | ramp | spike | drill      DRILL_LOAD_USERS  nominal users
    DRILL_LOAD_DURATION     seconds (unset: until stopped)     DRILL_LOAD_WAIT   pause between operations
    DRILL_PROCESS           this process's name in the history (p0, w1, w2, ...)
    DRILL_PROCESS_INDEX     its number, which makes transfer ids unique across processes
    DRILL_LOAD_STOP_FILE    the harness creates it to end the run (see DrillShape)
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gevent
import locust.stats
from locust import LoadTestShape, User, constant, events, task
from locust.env import Environment
from locust.runners import LocalRunner, MasterRunner

from waqiti_drill.workload import ledger, redis_ops
from waqiti_drill.workload.ops import Report, perform
from waqiti_drill.workload.profiles import LoadProfile
from waqiti_drill.workload.recorder import Recorder
from waqiti_drill.workload.targets import PG_PASSWORD_ENV, REDIS_PASSWORD_ENV, TARGETS_ENV, WorkloadTargets

TARGETS = WorkloadTargets.load(Path(os.environ[TARGETS_ENV]))
# Locust rewrites its CSV statistics every second (a module constant its writer reads on each round) and
# never at exit; a quarter second keeps the wait for the last round at shutdown short.
locust.stats.CSV_STATS_INTERVAL_SEC = 0.25
PROCESS = os.environ.get("DRILL_PROCESS", "p0")
PROCESS_INDEX = int(os.environ.get("DRILL_PROCESS_INDEX", "0"))
WAIT = float(os.environ.get("DRILL_LOAD_WAIT", "0.01"))
BACKOFF = 0.1  # after a failed operation, so an outage does not become a connection storm


class OpTimeout(Exception):
    """The client's patience ran out: the outcome is unknown."""


@contextlib.contextmanager
def deadline() -> Iterator[None]:
    timer = gevent.Timeout(TARGETS.op_timeout)
    timer.start()
    try:
        yield
    except gevent.Timeout as exc:
        if exc is not timer:
            raise
        raise OpTimeout(f"no reply within {TARGETS.op_timeout:g}s") from None
    finally:
        timer.cancel()


class Run:
    """This process's recorder and shared state; None in a master, which runs no users."""

    recorder: Recorder | None = None
    owners: dict[int, str] = {}
    users = itertools.count(1)
    tids = itertools.count(1)
    stop_watched = False  # a greenlet of this process watches the stop file (local runner)
    stopping = False  # that greenlet is stopping the users: the shape must not change their number
    last_tick: tuple[int, float] | None = None


def report(environment: Environment) -> Report:
    def fire(service: str, name: str, ms: float, exc: BaseException | None) -> None:
        environment.events.request.fire(request_type=service, name=name, response_time=ms, response_length=0,
                                        exception=exc, context={})
    return fire


@events.init.add_listener
def on_init(environment: Environment, **_kw: object) -> None:
    if isinstance(environment.runner, MasterRunner):
        return
    if TARGETS.redis_nodes:
        client = redis_ops.connect_cluster(TARGETS.redis_nodes, os.environ[REDIS_PASSWORD_ENV],
                                           TARGETS.redis_settings())
        try:
            Run.owners = redis_ops.slot_owners(client)  # the shard map as the run began
        finally:
            client.close()
    Run.recorder = Recorder(Path(TARGETS.history_dir), PROCESS)  # its file appearing tells the harness: ready
    if isinstance(environment.runner, LocalRunner):
        Run.stop_watched = True
        gevent.spawn(_stop_when_asked, environment)


def _stop_when_asked(environment: Environment) -> None:
    """The harness asks for the end by creating the stop file; seen within 50 ms here, instead of at the
    shape's next one-second tick (twice: once to ramp down, once to end). The users are stopped first and
    gracefully (each completes or records its operation, within --stop-timeout) while the shape holds
    still; only then does the shape end, and Locust shuts down with no user left to cut short."""
    while not STOP_FILE.exists():
        gevent.sleep(0.05)
    runner = environment.runner
    assert runner is not None
    Run.stopping = True
    runner.stop_users(dict(runner.user_classes_count))
    if runner.shape_greenlet is not None:
        runner.shape_greenlet.kill(block=False)


@events.quitting.add_listener
def on_quitting(environment: Environment, **_kw: object) -> None:
    """Stop the users first (each completes or records its operation), then flush and fsync once."""
    if Run.recorder is None:
        return
    if environment.runner is not None:
        environment.runner.stop()
    # Locust's CSV writer rewrites its statistics every interval and not at exit: one more interval, so the
    # statistics kept with the run count every operation (the history always does).
    gevent.sleep(locust.stats.CSV_STATS_INTERVAL_SEC + 0.1)
    Run.recorder.close()
    if Run.recorder.failure is not None or Run.recorder.open_ops:
        environment.process_exit_code = 3


class RecordingUser(User):
    abstract = True
    wait_time = constant(WAIT)
    service = ""

    def on_start(self) -> None:
        self.proc = f"{PROCESS}-u{next(Run.users)}"
        self.fire = report(self.environment)

    def run_op(
        self, shard: str, f: str, value: dict, action: Callable[[], Any], classify: Callable[[BaseException], str]
    ) -> str:
        assert Run.recorder is not None
        outcome = perform(Run.recorder, self.fire, self.proc, self.service, shard, f, value, action, classify)
        if outcome != "ok":
            self.on_error()
            gevent.sleep(BACKOFF)
        return outcome

    def on_error(self) -> None:
        """Forget the connection after an error."""


class LedgerUser(RecordingUser):
    abstract = True
    service = "postgres"
    read_only = False

    def on_start(self) -> None:
        super().on_start()
        dsn = TARGETS.ro_dsn if self.read_only else TARGETS.rw_dsn
        self.client = ledger.LedgerClient(dsn, os.environ[PG_PASSWORD_ENV], deadline=deadline)

    def on_stop(self) -> None:
        self.client.discard()

    def on_error(self) -> None:
        self.client.discard()

    def two_accounts(self) -> tuple[int, int]:
        src = random.randint(1, TARGETS.accounts)
        dst = random.randint(1, TARGETS.accounts - 1)
        return src, dst + (dst >= src)


class LedgerWriter(LedgerUser):
    """Transfers between two accounts through the read-write endpoint, each with a unique id."""

    weight = 4

    @task
    def transfer(self) -> None:
        src, dst = self.two_accounts()
        tid = (PROCESS_INDEX << 40) | next(Run.tids)
        amount = random.randint(1, 100)
        value = {"tid": tid, "from": src, "to": dst, "amount": amount}

        def action() -> None:
            self.client.transfer(TARGETS.run_id, tid, src, dst, amount)

        self.run_op("postgres", "transfer", value, action, ledger.outcome_of)


class BalanceReader(LedgerUser):
    """Reads a balance through the read-only endpoint (a replica), as account pages do."""

    weight = 1
    read_only = True

    @task
    def balance(self) -> None:
        account = random.randint(1, TARGETS.accounts)

        def action() -> dict:
            return {"balance": self.client.balance(account)}

        self.run_op("postgres", "balance", {"account": account}, action, ledger.outcome_of)


class RedisUser(RecordingUser):
    abstract = True
    service = "redis"

    def on_start(self) -> None:
        super().on_start()
        self._client: redis_ops.RedisCluster | None = None

    @property
    def client(self) -> redis_ops.RedisCluster:
        """Connected on first use, so a user started during an outage records failures, not a crash."""
        if self._client is None:
            self._client = redis_ops.connect_cluster_or_fail(TARGETS.redis_nodes, os.environ[REDIS_PASSWORD_ENV],
                                                             TARGETS.redis_settings())
        return self._client

    def on_stop(self) -> None:
        if self._client is not None:
            self._client.close()

    def redis_op(self, f: str, name: str, call: Callable[[str], dict | None]) -> str:
        key = redis_ops.session_key(TARGETS.run_id, name)

        def action() -> dict | None:
            with deadline():
                return call(key)

        return self.run_op(redis_ops.shard_of(Run.owners, key), f, {"key": name}, action, redis_ops.outcome_of)


class SessionWriter(RedisUser):
    """Writes a login session with a TTL, as the API gateway does."""

    weight = 2
    seq = itertools.count(1)

    @task
    def session(self) -> None:
        name = f"s:{self.proc}:{next(self.seq)}"
        self.redis_op("session", name, lambda key: self.client.set(key, "1", ex=TARGETS.session_ttl) and None)


class CounterWriter(RedisUser):
    """Increments one of the shared counters and notes the value Redis acknowledged."""

    weight = 2

    @task
    def incr(self) -> None:
        name = f"c:{random.randrange(TARGETS.counters)}"
        self.redis_op("incr", name, lambda key: {"result": self.client.incr(key)})


_profile = LoadProfile(
    name=os.environ.get("DRILL_LOAD_PROFILE", "drill"),
    users=int(os.environ.get("DRILL_LOAD_USERS", "12")),
    duration=float(os.environ["DRILL_LOAD_DURATION"]) if os.environ.get("DRILL_LOAD_DURATION") else None,
)


STOP_FILE = Path(os.environ.get("DRILL_LOAD_STOP_FILE", "/nonexistent/locust.stop"))


class DrillShape(LoadTestShape):
    """The profile named by DRILL_LOAD_PROFILE; the only shape in this file, so Locust uses it.

    The harness stops the load by creating DRILL_LOAD_STOP_FILE: the shape then ends, and Locust
    stops its users gracefully (each completes or records its operation) and writes its statistics.
    A signal cannot do this: headless Locust with a shape installs its SIGTERM handler only after
    the shape has finished, so SIGTERM would kill it with the history's buffer unwritten.
    """

    abstract = False

    def tick(self) -> tuple[int, float] | None:
        if Run.stopping:
            return Run.last_tick  # unchanged: Locust does nothing while the watcher stops the users
        stopping = STOP_FILE.exists() and not Run.stop_watched  # a local runner's watcher stops it sooner
        current = None if stopping else _profile.tick(self.get_run_time())
        Run.last_tick = current
        if current is None and self.runner is not None and len(self.runner.user_greenlets) > 0:
            # Ramp down to zero first: Locust lets users finish the operation they are in (stop_timeout)
            # when it ramps down, whereas ending the shape kills them mid-operation. Every user runs in one of
            # these greenlets, which ends only with its operation; the user count, by contrast, drops as soon
            # as a ramp-down asks a user to stop (ending on it once cut a user short, GreenletExit, in a
            # `drill load --duration` run).
            return 0, 10_000.0
        return current
