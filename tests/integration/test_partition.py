"""Real network partitions of the embedded stack: a member, the DCS, and healing them.

As root every PostgreSQL member runs in its own network namespace and a partition is a set of iptables
DROP rules inside it. Each test starts from, and leaves, a healthy cluster (one primary, a synchronous
standby, a streaming replica) with no partition in force. The measured figures are printed (`-s`) and
recorded as junit test-suite properties (`--junitxml`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time

import psycopg
import pytest

from waqiti_drill.errors import Unsupported
from waqiti_drill.platform.local.layout import member
from waqiti_drill.platform.local.patroni import PatroniCluster
from waqiti_drill.platform.local.pgroles import superuser_connect
from waqiti_drill.waiting import wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces and iptables need root"),
]

TTL = 20  # Patroni's leader key ttl (patroni.py): the failover clock


def _rw_write(platform, note: str, timeout: int = 3) -> tuple[str, int]:  # noqa: ANN001
    """One acknowledged insert through the rw endpoint; returns the server address and port that took it."""
    with psycopg.connect(**platform.postgres_connect_kwargs(), connect_timeout=timeout, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS partition_probe (id serial primary key, note text, "
                     "at timestamptz default clock_timestamp())")
        row = conn.execute("INSERT INTO partition_probe (note) VALUES (%s) RETURNING host(inet_server_addr()), "
                           "inet_server_port()", (note,)).fetchone()
    return row[0], row[1]


def _healthy_while_writing(platform, timeout: float) -> list:  # noqa: ANN001
    """Wait for a healthy cluster, writing through rw at each poll.

    A member rewound by pg_rewind stays 'starting' until the new primary writes past the point the
    rewind recorded; under a drill's load that is at once, on an idle test stack it needs a write.
    """
    cluster = PatroniCluster(platform.context())

    def probe() -> tuple[bool, str]:
        with contextlib.suppress(psycopg.Error):
            _rw_write(platform, "heartbeat")
        return cluster.healthy()

    wait_until(probe, timeout, "one primary, a synchronous standby and a streaming replica")
    return cluster.cluster_view()


def _roles(platform) -> dict[str, str]:  # noqa: ANN001
    return {m.name: m.role for m in platform.postgres_members()}


def _writable(platform, name: str) -> str:  # noqa: ANN001
    """'primary', 'read-only' or 'refuses connections': what member `name` says over its own Unix socket."""
    try:
        with superuser_connect(platform.context(), member(platform.settings, name)) as conn:
            in_recovery = conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
    except psycopg.OperationalError:
        return "refuses connections"
    return "read-only" if in_recovery else "primary"


def _record(record, fault: str, figures: dict[str, float]) -> None:  # noqa: ANN001
    """Measured seconds as junit test-suite properties (xunit2-compatible), e.g. partition.dcs_cut_off.demote_s."""
    for key, value in figures.items():
        record(f"partition.{fault}.{key}", value)


@pytest.fixture
def platform(stack):
    platform = stack.platform()
    _healthy_while_writing(platform, 180)
    assert platform.network_faults() == []
    yield platform
    if platform.heal_network():  # a failed test must not leave the next one partitioned
        _healthy_while_writing(platform, 180)


def test_isolated_primary_is_replaced_demotes_itself_and_rejoins(platform, record_testsuite_property):
    old = next(m for m in platform.postgres_members() if m.role == "primary")
    old_host, old_port = _rw_write(platform, "before")
    assert (old_host, old_port) == (old.host, old.port)
    # A client inside the partition, connected to the old primary over its own socket before the cut.
    inside = superuser_connect(platform.context(), member(platform.settings, old.name), dbname="waqiti")
    outcome: dict[str, str] = {}

    def write_inside() -> None:
        try:
            inside.execute("INSERT INTO partition_probe (note) VALUES ('inside-partition')")
            outcome["result"] = "acknowledged"
        except psycopg.Error as exc:
            outcome["result"] = f"error: {type(exc).__name__}: {str(exc).strip().splitlines()[0]}"

    t0 = time.monotonic()
    platform.isolate_member(old.name)
    assert platform.network_faults() == [f"member {old.name}"]
    writer = threading.Thread(target=write_inside, daemon=True)
    writer.start()

    def old_gave_up() -> tuple[bool, str]:
        seen = _writable(platform, old.name)
        return seen != "primary", seen

    wait_until(old_gave_up, TTL + 20, f"isolated primary {old.name} to stop accepting writes", interval=0.1)
    demoted = time.monotonic() - t0

    def failed_over() -> tuple[bool, str]:
        host, port = _rw_write(platform, "after")
        return port != old.port, f"rw wrote on {host}:{port}"

    wait_until(failed_over, TTL + 60, "the rw endpoint to write on a promoted replica")
    failover = time.monotonic() - t0
    new = next(m for m in platform.postgres_members() if m.role == "primary")
    assert new.name != old.name and _rw_write(platform, "after")[1] == new.port
    # The old primary gave up before anyone else took over: never two writable primaries.
    assert demoted < failover
    assert _writable(platform, old.name) in ("read-only", "refuses connections")
    writer.join(60)
    assert outcome.get("result", "still waiting").startswith("error"), outcome  # never acknowledged
    inside.close()

    t1 = time.monotonic()
    platform.reconnect_member(old.name)
    platform.reconnect_member(old.name)  # idempotent
    assert platform.network_faults() == []
    view = _healthy_while_writing(platform, 240)
    rejoin = time.monotonic() - t1
    rejoined = next(m for m in view if m.name == old.name)
    current = next(m for m in view if m.role == "primary")
    assert current.name == new.name and rejoined.role in ("replica", "sync_standby")
    assert rejoined.timeline == current.timeline > old.timeline
    with psycopg.connect(**platform.postgres_connect_kwargs(), autocommit=True) as conn:
        lost = conn.execute("SELECT count(*) FROM partition_probe WHERE note = 'inside-partition'").fetchone()[0]
    assert lost == 0  # written only on the isolated old primary, never acknowledged, rewound away
    figures = {"demote_s": round(demoted, 1), "failover_s": round(failover, 1), "rejoin_s": round(rejoin, 1)}
    _record(record_testsuite_property, "isolated_primary", figures)
    print(f"\nisolated primary {old.name}: {figures}, inside-partition write: {outcome['result']}")


def test_isolated_sync_standby_is_replaced_and_writes_continue(platform, record_testsuite_property):
    roles = _roles(platform)
    primary = next(n for n, r in roles.items() if r == "primary")
    sync = next(n for n, r in roles.items() if r == "sync_standby")
    other = next(n for n, r in roles.items() if r == "replica")
    commits: list[tuple[float, float]] = []
    stop = threading.Event()

    def write_steadily() -> None:
        with psycopg.connect(**platform.postgres_connect_kwargs(), autocommit=True) as conn:
            while not stop.is_set():
                started = time.monotonic()
                conn.execute("INSERT INTO partition_probe (note) VALUES ('steady')")
                commits.append((started, time.monotonic()))
                time.sleep(0.05)

    writer = threading.Thread(target=write_steadily, daemon=True)
    writer.start()
    wait_until(lambda: (len(commits) > 5, len(commits)), 10, "steady writes before the fault")
    t0 = time.monotonic()
    platform.isolate_member(sync)

    def other_is_sync_and_writes_flow() -> tuple[bool, str]:
        roles = _roles(platform)
        flowing = bool(commits) and commits[-1][0] > t0 and time.monotonic() - commits[-1][1] < 1.0
        return roles.get(other) == "sync_standby" and flowing, f"roles {roles}, last commit {commits[-1:]}"

    wait_until(other_is_sync_and_writes_flow, TTL + 60, f"{other} to become the synchronous standby")
    switched = time.monotonic() - t0
    stop.set()
    writer.join(30)
    assert _roles(platform)[primary] == "primary"  # the primary never changed
    stall = max(end - start for start, end in commits if end > t0)
    t1 = time.monotonic()
    platform.reconnect_member(sync)
    view = _healthy_while_writing(platform, 180)
    back = time.monotonic() - t1
    assert next(m for m in view if m.name == sync).role in ("replica", "sync_standby")
    figures = {"sync_switch_s": round(switched, 1), "longest_commit_s": round(stall, 1), "rejoin_s": round(back, 1)}
    _record(record_testsuite_property, "isolated_sync_standby", figures)
    print(f"\nisolated sync standby {sync} (primary {primary}, new sync {other}): {figures}")


def test_dcs_isolation_demotes_the_primary_until_reconnected(platform, record_testsuite_property):
    old = next(m.name for m in platform.postgres_members() if m.role == "primary")
    t0 = time.monotonic()
    platform.isolate_dcs()
    assert platform.network_faults() == ["dcs"]

    def no_primary() -> tuple[bool, dict[str, str]]:
        seen = {n: _writable(platform, n) for n in ("pg1", "pg2", "pg3")}
        return "primary" not in seen.values(), seen

    # Patroni 4 with failsafe_mode off: a leader that cannot update its key within retry_timeout
    # demotes itself, and no replica may promote without the DCS. So: no primary at all.
    wait_until(no_primary, TTL + 20, f"primary {old} to demote itself without the DCS")
    demoted = time.monotonic() - t0
    while time.monotonic() - t0 < TTL + 5:  # past the leader key's ttl, still nobody promotes
        ok, seen = no_primary()
        assert ok, f"a member became primary while cut off from the DCS: {seen}"
        time.sleep(0.5)
    with pytest.raises(psycopg.OperationalError):
        _rw_write(platform, "during-dcs-cut")

    t1 = time.monotonic()
    platform.reconnect_dcs()
    assert platform.network_faults() == []
    wait_until(lambda: (True, _rw_write(platform, "after-dcs")), 90, "the rw endpoint to accept a write again")
    writable = time.monotonic() - t1
    view = _healthy_while_writing(platform, 180)
    assert [m.role for m in view].count("primary") == 1
    figures = {"primary_demoted_s": round(demoted, 1), "writable_after_reconnect_s": round(writable, 1),
               "healthy_after_reconnect_s": round(time.monotonic() - t1, 1)}
    _record(record_testsuite_property, "dcs_cut_off", figures)
    print(f"\nDCS cut off (primary was {old}, now {next(m.name for m in view if m.role == 'primary')}): {figures}")


def test_heal_network_removes_every_rule_and_is_idempotent(platform):
    replica = next(m.name for m in platform.postgres_members() if m.role == "replica")
    platform.isolate_member(replica)
    platform.isolate_member(replica)  # idempotent: no second set of rules
    platform.isolate_dcs()
    assert platform.network_faults() == [f"member {replica}", "dcs"]
    removed = platform.heal_network()
    assert len(removed) == 2 + 2 * 3, removed  # the member's two rules, two per member for the DCS
    assert sum(line.startswith(f"{replica}: isolate-member") for line in removed) == 2
    assert all(" -j DROP" in line for line in removed)
    assert platform.network_faults() == [] and platform.heal_network() == []
    _healthy_while_writing(platform, 180)


def test_partitions_need_the_namespaces(stack):
    from waqiti_drill.platform.local.stack import LocalPlatform

    loopback = LocalPlatform(dataclasses.replace(stack.settings, network="loopback"))
    with pytest.raises(Unsupported, match="network partitions need the members in network namespaces"):
        loopback.isolate_member("pg1")
    with pytest.raises(Unsupported):
        loopback.isolate_dcs()
    assert loopback.network_faults() == [] and loopback.heal_network() == []
