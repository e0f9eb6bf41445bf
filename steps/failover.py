"""Failover steps: PostgreSQL faults injected through the chaostoolkit actions (waqiti_drill.faults.actions),
so each writes the ledger first and its fault record into the scenario's history (the checker's clock)."""

from __future__ import annotations

from typing import Any

from pytest_bdd import parsers, then, when

from waqiti_drill.faults import actions, probes
from waqiti_drill.platform.base import PgMember
from waqiti_drill.suite.drill import ScenarioDrill
from waqiti_drill.waiting import wait_until

from .common import remember

UNPLANNED = {"killed": actions.kill_member, "cut off the network": actions.isolate_member}


def members(drill: ScenarioDrill) -> dict[str, PgMember]:
    return {m.name: m for m in drill.platform.postgres_members()}


def roles(drill: ScenarioDrill) -> str:
    return ", ".join(f"{m.name}={m.role}/{m.state}" for m in drill.platform.postgres_members())


@when(parsers.re(r"the PostgreSQL primary is (?P<how>killed|cut off the network)"), target_fixture="fault")
def primary_lost(drill: ScenarioDrill, how: str) -> dict[str, Any]:
    old = actions.resolve_member(drill.platform, "primary")
    remember(drill, "old_primary", old)
    remember(drill, "old_sync_standby", actions.resolve_member(drill.platform, "sync_standby"))
    return UNPLANNED[how](member=old, configuration=drill.configuration)


@when(parsers.parse("the PostgreSQL primary is frozen for {seconds:g} seconds"), target_fixture="fault")
def primary_frozen(drill: ScenarioDrill, seconds: float) -> dict[str, Any]:
    """SIGSTOP for `seconds` (the action holds, then thaws even when interrupted): a hung host."""
    remember(drill, "old_primary", actions.resolve_member(drill.platform, "primary"))
    return actions.freeze_member(member="primary", seconds=seconds, configuration=drill.configuration)


@when("the synchronous standby is lost", target_fixture="fault")
def sync_standby_lost(drill: ScenarioDrill) -> dict[str, Any]:
    remember(drill, "old_primary", actions.resolve_member(drill.platform, "primary"))
    remember(drill, "lost_standby", actions.resolve_member(drill.platform, "sync_standby"))
    return actions.stop_member(member="sync_standby", configuration=drill.configuration)


@when("a planned switchover to the synchronous standby is requested by its name", target_fixture="fault")
def planned_switchover(drill: ScenarioDrill) -> dict[str, Any]:
    """The candidate is named explicitly (Patroni in synchronous_mode only promotes a synchronous standby)."""
    remember(drill, "old_primary", actions.resolve_member(drill.platform, "primary"))
    candidate = remember(drill, "candidate", actions.resolve_member(drill.platform, "sync_standby"))
    return actions.switchover(candidate=candidate, configuration=drill.configuration)


@when("the DCS is killed", target_fixture="fault")
def dcs_killed(drill: ScenarioDrill) -> dict[str, Any]:
    remember(drill, "old_primary", actions.resolve_member(drill.platform, "primary"))
    return actions.kill_dcs(configuration=drill.configuration)


@then(parsers.parse("another member is promoted within {seconds:g} seconds"))
def another_promoted(drill: ScenarioDrill, seconds: float) -> None:
    old = drill.notes["old_primary"]

    def promoted() -> tuple[bool, str]:
        now = members(drill)
        new = [m.name for m in now.values() if m.role == "primary" and m.state == "running" and m.name != old]
        return bool(new), roles(drill)

    wait_until(promoted, seconds, f"a member other than {old} to be a running primary", interval=0.5)
    remember(drill, "new_primary", actions.resolve_member(drill.platform, "primary"))


@then("the synchronous standby was promoted")
def sync_standby_promoted(drill: ScenarioDrill) -> None:
    assert drill.notes["new_primary"] == drill.notes["old_sync_standby"], (
        f"{drill.notes['new_primary']} was promoted, not the synchronous standby {drill.notes['old_sync_standby']}")


@then(parsers.parse("the named standby is the primary within {seconds:g} seconds"))
def named_is_primary(drill: ScenarioDrill, seconds: float) -> None:
    name = drill.notes["candidate"]
    wait_until(lambda: (members(drill)[name].role == "primary", roles(drill)), seconds,
               f"{name} to be the primary", interval=0.5)


@then(parsers.parse("the same member is the primary within {seconds:g} seconds"))
def primary_unchanged(drill: ScenarioDrill, seconds: float) -> None:
    """No failover happened: the same member serves writes (a freeze shorter than the leader key's ttl)."""
    old = drill.notes["old_primary"]
    wait_until(lambda: (actions.resolve_member(drill.platform, "primary") == old, roles(drill)), seconds,
               f"{old} to be the primary again", interval=0.5)


@then(parsers.parse("the old primary rejoins as a replica within {seconds:g} seconds"))
def old_primary_rejoins(drill: ScenarioDrill, seconds: float) -> None:
    old = drill.notes["old_primary"]

    def rejoined() -> tuple[bool, str]:
        m = members(drill).get(old)
        return m is not None and m.role in ("sync_standby", "replica") and m.state == "streaming", roles(drill)

    wait_until(rejoined, seconds, f"{old} to stream as a replica", interval=0.5)


@then(parsers.parse("a synchronous standby is in place within {seconds:g} seconds"))
def sync_standby_in_place(drill: ScenarioDrill, seconds: float) -> None:
    def present() -> tuple[bool, str]:
        return any(m.role == "sync_standby" and m.state == "streaming" for m in members(drill).values()), roles(drill)

    wait_until(present, seconds, "a streaming synchronous standby", interval=0.5)


@then(parsers.parse("the primary stops accepting writes within {seconds:g} seconds"))
def primary_stops_writes(drill: ScenarioDrill, seconds: float) -> None:
    """Without the DCS, Patroni cannot renew its leader key and demotes the primary (no failsafe mode)."""
    wait_until(lambda: (not probes.writable_primary_exists(drill.configuration), "still writable"), seconds,
               "the read-write endpoint to refuse writes", interval=0.5)


@then(parsers.parse("no member is promoted while the DCS is down for {seconds:g} seconds"))
def nobody_promoted(drill: ScenarioDrill, seconds: float) -> None:
    """The outage itself is held for `seconds` (the drill's parameter, not a wait for a condition); every
    half second of it, no member may be a writable primary."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert not probes.writable_primary_exists(drill.configuration), f"a primary accepted writes: {roles(drill)}"
        time.sleep(0.5)
    drill.measurements["dcs_outage_held_seconds"] = seconds
