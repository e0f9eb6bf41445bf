"""Steps every drill shares: a healthy start, a load, the heal, and the figures the checker measured.

State lives in the `drill` fixture (a ScenarioDrill: the scenario's directory, its load, its checker
result); a fault step returns what it did as the `fault` fixture (target_fixture) for later steps.
"""

from __future__ import annotations

import time
from typing import Any

from pytest_bdd import given, parsers, then, when

from waqiti_drill.faults import health, probes
from waqiti_drill.suite.drill import ScenarioDrill
from waqiti_drill.waiting import timeout_multiplier, wait_until

STEADY_WRITES = 20  # acknowledged writes the load must have made before a fault is injected


@given("the platform is healthy")
def platform_is_healthy(drill: ScenarioDrill) -> None:
    health.wait_healthy(drill.platform, 120.0)


def acknowledged_writes(drill: ScenarioDrill) -> int:
    """Writes the clients saw acknowledged so far, from the history (the checker's own parser)."""
    return drill.live().acked


@given(parsers.parse('the {kind} load "{profile}" is running'))
def load_is_running(drill: ScenarioDrill, kind: str, profile: str) -> None:
    """Locust (its own process) runs the named load; the step returns once writes are being acknowledged."""
    started = time.monotonic()
    drill.start_load(kind, profile)
    wait_until(lambda: (acknowledged_writes(drill) >= STEADY_WRITES, acknowledged_writes(drill)), 60.0,
               f"the {kind} load to have {STEADY_WRITES} acknowledged writes in its history", interval=0.1)
    drill.measurements["harness: steady_load_seconds"] = round(time.monotonic() - started, 3)


@when("the drill heals the platform")
def drill_heals(drill: ScenarioDrill) -> None:
    drill.heal()


@then(parsers.parse("writes resume within {seconds:g} seconds"))
def writes_resume(drill: ScenarioDrill, seconds: float) -> None:
    """A write through the read-write endpoint succeeds again within the bound (measured precisely later,
    from the clients' history, by the checker)."""
    wait_until(lambda: (probes.writable_primary_exists(drill.configuration), "no writable primary"), seconds,
               "a writable primary behind the read-write endpoint", interval=0.5)


@then("the measured RTO is within the target")
def rto_within_target(drill: ScenarioDrill) -> None:
    result = drill.require_check()
    target = drill.settings.targets.rto_seconds
    rto = result.rto_seconds
    assert rto is not None, f"RTO: writes never recovered after the fault ({'; '.join(result.problems)})"
    assert rto <= target, f"RTO {rto:.1f}s > target {target:g}s"


@then("the measured RPO is within the target")
def rpo_within_target(drill: ScenarioDrill) -> None:
    result = drill.require_check()
    target = drill.settings.targets.rpo_seconds
    assert result.rpo_seconds <= target, f"RPO {result.rpo_seconds:.1f}s > target {target:g}s"


@then(parsers.parse("the measured RTO is at most {seconds:g} seconds"))
def rto_at_most(drill: ScenarioDrill, seconds: float) -> None:
    rto = drill.require_check().rto_seconds
    assert rto is not None and rto <= seconds, f"RTO {rto}s, expected at most {seconds:g}s"


@then("no acknowledged write is lost")
def nothing_lost(drill: ScenarioDrill) -> None:
    """Zero lost acknowledged writes, out of a non-zero number: a drill that acknowledged nothing proves nothing."""
    result = drill.require_check()
    assert result.acked_writes > 0, "no write was acknowledged during the drill: nothing was tested"
    lost = {name: s.lost for name, s in result.services.items() if s.lost}
    assert not lost, f"{result.lost_writes} acknowledged write(s) lost: {lost}"
    unexpected = {name: s.unexpected for name, s in result.services.items() if s.unexpected}
    assert not unexpected, f"data present that was never acknowledged or invoked: {unexpected}"


@then("the checker passes the drill")
def checker_passes(drill: ScenarioDrill) -> None:
    result = drill.require_check()
    assert result.passed, "checker: " + "; ".join(result.problems)


@then("the platform is healthy again")
def healthy_again(drill: ScenarioDrill) -> None:
    drill.finish()
    found = health.problems(drill.platform)
    assert not found, "; ".join(found)


def feature_bound(seconds: float) -> float:
    """A feature's "within N seconds" bound as a step asserts it: scaled by DRILL_TIMEOUT_MULTIPLIER, as every
    wait_until of the other steps is, so a slow machine given a multiplier is not failed on the same bound."""
    return seconds * timeout_multiplier()


def bound_text(seconds: float) -> str:
    """The bound as a failure message says it: the feature's figure, and the multiplier when one applies."""
    multiplier = timeout_multiplier()
    return f"{seconds:g}s" if multiplier == 1 else f"{seconds * multiplier:g}s ({seconds:g}s x {multiplier:g})"


def remember(drill: ScenarioDrill, key: str, value: Any) -> Any:  # noqa: ANN401
    """Keep a fact a later step needs (the old primary's name, a replica's node id)."""
    drill.notes[key] = value
    return value


@when(parsers.parse('the chaostoolkit experiment "{name}" is run'), target_fixture="journal")
def experiment_runs(drill: ScenarioDrill, name: str) -> dict[str, Any]:
    """scenarios/<name>.yaml as `drill chaos` runs it (safety control, rollbacks always), on this thread (the
    main one: chaoslib installs signal handlers); its fault records and journal.json land in the scenario dir."""
    from waqiti_drill.faults import experiment
    from waqiti_drill.suite.drill import SCENARIOS

    journal = experiment.run(SCENARIOS / f"{name}.yaml", drill.settings, drill.directory, drill.config_file)
    passed, line = experiment.summary(journal)
    drill.measurements["experiment"] = line
    drill.measurements["experiment_duration_seconds"] = round(float(journal.get("duration") or 0.0), 3)
    return journal


@then("the experiment completes with its steady state intact and every rollback played")
def experiment_passed(drill: ScenarioDrill, journal: dict[str, Any]) -> None:
    from waqiti_drill.faults import experiment

    passed, line = experiment.summary(journal)
    assert passed, line
