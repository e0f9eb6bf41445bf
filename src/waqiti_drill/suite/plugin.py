"""The pytest plugin of the drill suite (loaded by the top-level conftest.py).

Inert unless `--drill-run-dir` is given (so the unit and integration tests, which share the conftest, are
untouched). With it, every pytest-bdd scenario gets its directory under <run>/scenarios/<slug>/, a
ScenarioDrill (fixture `drill`) that always heals at teardown, a role sampler, and a result.json written
once its teardown is over; `drill run` gathers those into results.json.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd.scenario import find_fixturedefs_for_step, scenario_wrapper_template_registry

from waqiti_drill.config import Targets
from waqiti_drill.results import Paths, to_json
from waqiti_drill.suite.records import RESULT_FILE, Observed, build_result, one_line, relative, slug, unique_slug
from waqiti_drill.suite.tags import KNOWN_TAGS
from waqiti_drill.waiting import timeout_multiplier


@dataclass
class ScenarioState:
    feature: str
    scenario: str
    tags: list[str]
    hypothesis: str
    directory: Path
    started: float = field(default_factory=time.time)
    status: str = "passed"
    error: str | None = None
    drill: Any = None  # the ScenarioDrill, once the fixture made it


STATE = pytest.StashKey[ScenarioState]()
_slugs: set[str] = set()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("drill", "Waqiti drill suite")
    group.addoption("--drill-run-dir", help="the run directory (set by `drill run`)")
    group.addoption("--drill-preflight", help="only check every step has a definition; write problems to FILE")


def pytest_configure(config: pytest.Config) -> None:
    for tag, what in KNOWN_TAGS.items():
        config.addinivalue_line("markers", f"{tag}: {what}")


def template_of(item: pytest.Item) -> tuple[Any, dict[str, str]] | None:
    """The pytest-bdd scenario (rendered with its outline example) behind a test item, or None."""
    func = getattr(item, "obj", None)
    template = scenario_wrapper_template_registry.get(func) if func is not None else None
    if template is None:
        return None
    example = getattr(item, "callspec", None)
    values = dict(example.params.get("_pytest_bdd_example", {})) if example is not None else {}
    return template, values


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    target = config.getoption("--drill-preflight")
    if not target:
        return
    problems: list[dict[str, Any]] = []
    for item in items:
        found = template_of(item)
        if found is None:
            continue
        template, values = found
        for step in template.render(values).steps:
            if not any(True for _ in find_fixturedefs_for_step(step, session._fixturemanager, item)):
                problems.append({"file": template.feature.filename, "line": step.line_number,
                                 "message": f"no step definition matches '{step.keyword} {step.name}'"})
    unique = {(p["file"], p["line"]): p for p in problems}
    Path(target).write_text(json.dumps(sorted(unique.values(), key=lambda p: (p["file"], p["line"]))))
    config.hook.pytest_deselected(items=list(items))
    items[:] = []


def _state_for(item: pytest.Item, run_dir: Path) -> ScenarioState | None:
    found = template_of(item)
    if found is None:
        return None
    template, values = found
    scenario = template.render(values)
    feature = template.feature
    tags = sorted({m.name for m in item.iter_markers()} & set(KNOWN_TAGS))
    name = scenario.name + (" [" + ", ".join(values.values()) + "]" if values else "")
    steps = "\n".join(f"{s.keyword} {s.name}" for s in scenario.steps)
    claims = [" ".join((d or "").split()) for d in (feature.description, template.description)]
    hypothesis = "\n".join(p for p in (*claims, steps) if p)  # the feature's and scenario's words, then the steps
    directory = run_dir / "scenarios" / unique_slug(slug(feature.filename, scenario.name, values), _slugs)
    directory.mkdir(parents=True, exist_ok=True)
    return ScenarioState(feature=feature.name or Path(feature.filename).stem, scenario=name, tags=tags,
                         hypothesis=hypothesis, directory=directory)


@pytest.fixture(scope="session")
def drill_settings() -> Any:  # noqa: ANN401 - Settings; imported lazily
    from waqiti_drill.config import load_settings

    return load_settings(None, None)  # DRILL_STATE_DIR / DRILL_CONFIG, as `drill run` passes them


@pytest.fixture(scope="session")
def drill_platform(drill_settings: Any) -> Any:  # noqa: ANN401
    from waqiti_drill.platform.factory import open_platform

    return open_platform(drill_settings)


@pytest.fixture(autouse=True)
def _drill_scenario(request: pytest.FixtureRequest) -> Iterator[None]:
    """Gives each scenario of a `drill run` its directory and state; a no-op for any other test."""
    raw = request.config.getoption("--drill-run-dir")
    state = _state_for(request.node, Path(raw)) if raw else None
    if state is not None:
        request.node.stash[STATE] = state
    yield


@pytest.fixture
def drill(request: pytest.FixtureRequest, drill_settings: Any, drill_platform: Any) -> Iterator[Any]:
    """The ScenarioDrill of this scenario; its teardown heals, reads back and checks, whatever happened."""
    import os

    from waqiti_drill.suite.drill import ScenarioDrill

    state = request.node.stash.get(STATE, None)
    if state is None:
        raise RuntimeError("the drill fixture only exists in a `drill run` (no --drill-run-dir)")
    scenario = ScenarioDrill(settings=drill_settings, config_file=os.environ.get("DRILL_CONFIG"),
                             directory=state.directory, platform=drill_platform)
    state.drill = scenario
    scenario.start_sampler()
    scenario.watch_monitoring()
    yield scenario
    try:
        scenario.close()
    finally:
        _attach(state.directory)


def _attach(directory: Path) -> None:
    """The checker's result and the role samples as Allure attachments of the scenario (when allure runs)."""
    import allure

    for name, kind in (("check.json", allure.attachment_type.JSON), ("roles.jsonl", allure.attachment_type.TEXT)):
        if (directory / name).is_file():
            allure.attach.file(str(directory / name), name=name, attachment_type=kind)


def pytest_bdd_step_error(request: pytest.FixtureRequest, feature: Any, scenario: Any, step: Any,  # noqa: ANN401
                          step_func: Any, step_func_args: Any, exception: BaseException) -> None:  # noqa: ANN401
    state = request.node.stash.get(STATE, None)
    if state is not None and state.error is None:
        what = one_line(str(exception)) or type(exception).__name__
        state.error = f"{step.keyword} {step.name} (line {step.line_number}): {what}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    state = item.stash.get(STATE, None)
    if state is None:
        return report
    if report.skipped and state.status != "failed":
        state.status = "skipped"
        state.error = state.error or _reason(call)
    elif report.failed:
        state.status = "failed"
        if call.when == "teardown":
            state.error = (state.error + "; " if state.error else "") + f"teardown (heal/check): {_reason(call)}"
        else:
            state.error = state.error or _reason(call)
    if call.when == "teardown":
        _write_result(item, state)
    return report


def _reason(call: pytest.CallInfo[None]) -> str:
    if call.excinfo is None:
        return ""
    if call.excinfo.typename == "Skipped":
        return "skipped: " + one_line(str(call.excinfo.value.msg if hasattr(call.excinfo.value, "msg") else ""))
    return one_line(call.excinfo.exconly())


def _write_result(item: pytest.Item, state: ScenarioState) -> None:
    run_dir = Path(item.config.getoption("--drill-run-dir"))
    drill = state.drill
    settings_targets = drill.settings.targets if drill is not None else _default_targets()
    d = state.directory
    paths = Paths(dir=relative(d, run_dir), history=relative(d / "history", run_dir),
                  journal=relative(d / "journal.json", run_dir), locust_stats=relative(d / "locust_stats.csv", run_dir),
                  check=relative(d / "check.json", run_dir))
    seen = Observed(feature=state.feature, scenario=state.scenario, tags=state.tags, status=state.status,  # type: ignore[arg-type]
                    targets=Targets(settings_targets.rto_seconds, settings_targets.rpo_seconds),
                    hypothesis=state.hypothesis, error=state.error if state.status == "failed" else None,
                    started_at=state.started, duration_seconds=round(time.time() - state.started, 3),
                    data_validated=drill.data_validated if drill else None,
                    measurements=dict(drill.measurements) if drill else {}, paths=paths,
                    backups=list(drill.backups) if drill else [], timeout_multiplier=timeout_multiplier(),
                    detections=list(drill.detections) if drill else [],
                    monitoring=drill.monitoring_seen if drill else None, healthy_at=drill.healthy_at if drill else None,
                    first_fault=drill.first_fault() if drill else None, region=drill.region if drill else None,
                    controls=list(drill.controls) if drill else [])
    if state.status == "skipped" and state.error:
        seen.deviations.append(state.error)
    result = build_result(seen, drill.check if drill else None)
    (d / RESULT_FILE).write_text(json.dumps(to_json(result), indent=2) + "\n")


def _default_targets() -> Any:  # noqa: ANN401
    from waqiti_drill.config import load_settings

    return load_settings(None, None).targets
