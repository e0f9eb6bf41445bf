"""Monitoring steps: the real condition of each critical alert induced on the real stack, the alert awaited
and judged against its budget, the heal, and the alert resolved.

A condition is either one of the drill's faults (its record in history/faults.jsonl says when it began;
monitoring/expected.py which alert it should raise) or one a step adds to the scenario's watch (a backup
that failed, a WAL segment left waiting). The figures are Prometheus's own evaluation instants and the
harness receiver's receipt times (suite/watch.py, monitoring/detection.py).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from pytest_bdd import given, parsers, then, when

from waqiti_drill.errors import WaitTimeout
from waqiti_drill.faults import actions, probes
from waqiti_drill.monitoring.detection import LEAD_SECONDS, Condition, budget_seconds, identity, matches
from waqiti_drill.results import Detection
from waqiti_drill.suite.drill import ScenarioDrill
from waqiti_drill.suite.watch import MonitoringWatch
from waqiti_drill.waiting import wait_until

GRACE_SECONDS = 60.0  # after the budget, how long a late notification is still waited for (to measure it)
ARCHIVE_LEAD_SECONDS = 60.0  # PostgresWalArchivingFailing: a segment must first wait more than 60 s


def watch_of(drill: ScenarioDrill) -> MonitoringWatch:
    if drill.watch is None:
        raise AssertionError("monitoring is disabled in the configuration ([monitoring] enabled = false): "
                             "the monitoring drills need it")
    return drill.watch


def latest_condition(watch: MonitoringWatch, alert: str) -> Condition:
    conditions = [c for c in watch.conditions()[0] if c.alert == alert]
    if not conditions:
        raise AssertionError(f"no condition of this scenario should raise {alert} (no fault or step induced one)")
    return conditions[-1]


def measured(watch: MonitoringWatch, condition: Condition) -> Detection:
    return next(d for d in watch.detections() if d.alert == condition.alert and d.condition == condition.what
                and d.labels == condition.labels)


def note(drill: ScenarioDrill, d: Detection) -> None:
    """The detection's figures as measurements too (the detection itself goes into results.json)."""
    key = identity(d.alert, d.labels)
    for name in ("pending_seconds", "firing_seconds", "notified_seconds", "resolved_seconds", "budget_seconds"):
        value = getattr(d, name)
        if value is not None:
            drill.measurements[f"detection: {key} {name}"] = value


@given("the monitoring is quiet")
def monitoring_quiet(drill: ScenarioDrill) -> None:
    """No alert pending or firing when the scenario began (the drill fixture waited for it)."""
    watch = watch_of(drill)
    assert not watch.active_at_start, f"alerts still active before the scenario: {', '.join(watch.active_at_start)}"


@when(parsers.parse("the load runs for {seconds:g} seconds"))
def load_runs(drill: ScenarioDrill, seconds: float) -> None:
    actions.observe(seconds)


@when(parsers.re(r"the PostgreSQL (?P<role>primary|replica) is killed and held down"), target_fixture="fault")
def member_killed(drill: ScenarioDrill, role: str) -> dict[str, Any]:
    """Killed like a pod (Patroni and its postgres tree), and not restarted until the drill heals."""
    return actions.kill_member(member=role, configuration=drill.configuration)


@when("a Redis master is killed and held down", target_fixture="fault")
def redis_master_killed(drill: ScenarioDrill) -> dict[str, Any]:
    return actions.kill_redis_master(configuration=drill.configuration)


@when("WAL replay stops on the replica", target_fixture="fault")
def replay_stops(drill: ScenarioDrill) -> dict[str, Any]:
    return actions.stall_replay(member="replica", configuration=drill.configuration)


@when(parsers.parse("the replica's disk is filled to {percent:g} %"), target_fixture="fault")
def disk_filled(drill: ScenarioDrill, percent: float) -> dict[str, Any]:
    return actions.fill_disk_to(member="replica", percent=percent, configuration=drill.configuration)


@when(parsers.parse("client connections are held on the primary up to {percent:g} % of those open to clients"),
      target_fixture="fault")
def connections_held(drill: ScenarioDrill, percent: float) -> dict[str, Any]:
    done = actions.hold_connections(member="primary", fraction=percent / 100.0, configuration=drill.configuration)
    drill.measurements["connections_held"] = done["connections_opened"]
    return done


@when(parsers.parse("{count:d} logins with a wrong password are refused by the primary"), target_fixture="fault")
def logins_refused(drill: ScenarioDrill, count: int) -> dict[str, Any]:
    """Its alert is judged from a clean window: an earlier scenario's refused logins may still be in it."""
    if drill.watch is not None:
        started = time.monotonic()
        drill.watch.await_no_refused_logins()
        drill.measurements["harness: failed_login_window_wait_seconds"] = round(time.monotonic() - started, 3)
    done = actions.failed_logins(member="primary", count=count, configuration=drill.configuration)
    assert done["refused"] == count, f"{done['refused']} of {count} logins refused"
    return done


@when(parsers.parse("an incremental backup attempted for {seconds:g} seconds fails"))
def backup_attempt_fails(drill: ScenarioDrill, seconds: float) -> None:
    """The backup job fails (bounded: pgBackRest retries an unreachable store for minutes); its outcome is
    pushed, as a backup job's is. The BackupFailed condition begins when the failed job ended."""
    done = actions.backup_must_fail("incr", seconds, configuration=drill.configuration)
    assert done["failed"], done
    drill.measurements["failed_backup_seconds"] = done["seconds"]
    watch_of(drill).add("BackupFailed", {"type": "incr"}, "incremental backup failed")


@when("an incremental backup succeeds")
def backup_succeeds(drill: ScenarioDrill) -> None:
    drill.platform.backup("incr")
    watch_of(drill).end("BackupFailed")


@when("a WAL segment is closed on the primary")
def wal_switched(drill: ScenarioDrill) -> None:
    """The segment is ready to be archived at once, and waits: the archive is unreachable. The archiving
    alert counts from a segment waiting more than 60 s, so its lead is 60 s."""
    primary = actions.resolve_member(drill.platform, "primary")
    segment = drill.platform.switch_wal()
    drill.measurements["wal_segment_waiting"] = segment
    watch_of(drill).add("PostgresWalArchivingFailing", {"member": primary}, f"WAL segment {segment} left waiting",
                        lead_seconds=ARCHIVE_LEAD_SECONDS)


@then(parsers.parse('the alert "{alert}" is notified within its budget'))
def alert_notified(drill: ScenarioDrill, alert: str) -> None:
    """Wait for Alertmanager's notification of the alert for this condition's instance (up to the budget and a
    grace, so a late one is measured, not timed out), then judge it: notified within the budget."""
    watch = watch_of(drill)
    condition = latest_condition(watch, alert)
    lead = condition.lead_seconds if condition.lead_seconds is not None else LEAD_SECONDS.get(alert, 0.0)
    budget = budget_seconds(watch.rules[alert], lead, watch.intervals)

    def notified() -> tuple[bool, int]:
        told = [n for n in drill.platform.alert_notifications(condition.at)
                if n.name == alert and n.status == "firing" and matches(n.labels, condition.labels)]
        return bool(told), len(told)

    remaining = condition.at + budget + GRACE_SECONDS - time.time()
    with contextlib.suppress(WaitTimeout):  # judged below, with what Prometheus saw
        wait_until(notified, max(remaining, 1.0), f"a notification of {alert} for {condition.labels}", interval=0.5)
    d = measured(watch, condition)
    note(drill, d)
    assert d.verdict == "detected", (f"{alert} for {condition.what}: {d.verdict}; pending {d.pending_seconds}s, "
                                     f"firing {d.firing_seconds}s, notified {d.notified_seconds}s, budget "
                                     f"{d.budget_seconds:g}s")


@then(parsers.parse('the alert "{alert}" resolves within {seconds:g} seconds'))
def alert_resolves(drill: ScenarioDrill, alert: str, seconds: float) -> None:
    """No longer pending or firing in Prometheus, and Alertmanager's resolved notification received."""
    watch = watch_of(drill)
    condition = latest_condition(watch, alert)
    started = time.monotonic()

    def resolved() -> tuple[bool, str]:
        active = [a for a in drill.platform.active_alerts() if a.name == alert and matches(a.labels, condition.labels)]
        told = [n for n in drill.platform.alert_notifications(condition.at)
                if n.name == alert and n.status == "resolved" and matches(n.labels, condition.labels)]
        return not active and bool(told), f"active: {len(active)}, resolved notifications: {len(told)}"

    wait_until(resolved, seconds, f"{alert} resolved and its resolved notification received", interval=1.0)
    drill.measurements[f"detection: {alert} resolved_wait_seconds"] = round(time.monotonic() - started, 3)
    note(drill, measured(watch, condition))


@then(parsers.parse('the alert "{alert}" did not fire'))
def alert_did_not_fire(drill: ScenarioDrill, alert: str) -> None:
    watch = watch_of(drill)
    fired = [s for s in drill.platform.alert_samples(watch.started, time.time())
             if s.name == alert and s.state == "firing"]
    assert not fired, f"{alert} fired: {sorted({identity(s.name, s.labels) for s in fired})}"


@then("no alert fired during the scenario")
def nothing_fired(drill: ScenarioDrill) -> None:
    """The steady state: under a clean load no alert fires (a false positive fails the drill)."""
    watch = watch_of(drill)
    samples = drill.platform.alert_samples(watch.started, time.time())
    pending = sorted({identity(s.name, s.labels) for s in samples if s.state == "pending"})
    drill.measurements["steady state: alerts pending (not fired)"] = ", ".join(pending) or "none"
    fired = sorted({identity(s.name, s.labels) for s in samples if s.state == "firing"})
    assert not fired, f"alerts fired in a clean run (false positives): {', '.join(fired)}"


@then("a write through the read-write endpoint still succeeds")
def still_writable(drill: ScenarioDrill) -> None:
    assert probes.writable_primary_exists(drill.configuration), "no write succeeded through the read-write endpoint"
