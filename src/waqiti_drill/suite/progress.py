"""The pytest side of `drill run`'s live progress: what pytest knows and the run directory does not say.

Loaded by `drill run` with `-p waqiti_drill.suite.progress` (never by the unit or integration tests). It
appends one JSON line per event to <run>/progress.jsonl, flushed at once, so the parent process can show
scenario n of N and the current step while the scenario's own files (faults.jsonl, roles.jsonl, the
history) say what is broken and what clients see:

    {"event": "collected", "wall": ..., "scenarios": [{"feature": ..., "scenario": ...}, ...]}
    {"event": "scenario", "wall": ..., "n": 1, "feature": ..., "scenario": ..., "dir": "scenarios/<slug>"}
    {"event": "step", "wall": ..., "n": 1, "index": 3, "steps": 9, "step": "When the PostgreSQL primary is killed"}
    {"event": "step_failed", "wall": ..., "n": 1, "index": 3}
    {"event": "teardown", "wall": ..., "n": 1}            the scenario ends: heal, read back, check
    {"event": "done", "wall": ..., "n": 1, "status": "passed"}
    {"event": "finished", "wall": ...}

It also names each scenario in the JUnit XML (testcase properties feature, scenario, dir). The file is raw
data of the run like any other (covered by the signed manifest); it holds feature text only, no errors.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson
import pytest

from waqiti_drill.suite.plugin import STATE, template_of
from waqiti_drill.suite.tags import KNOWN_TAGS

PROGRESS_FILE = "progress.jsonl"
PLAN_OPTION = "--drill-plan"


class Events:
    """Appends events to one file, one flushed line each (a reader may tail it while pytest runs)."""

    def __init__(self, path: Path) -> None:
        self._fh: IO[bytes] = open(path, "ab")  # noqa: SIM115 - open for the whole session

    def emit(self, event: str, **fields: Any) -> None:
        self._fh.write(orjson.dumps({"event": event, "wall": time.time(), **fields}) + b"\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


_events: Events | None = None
_numbers: dict[str, int] = {}  # nodeid -> scenario number (1-based, in run order)


def pytest_configure(config: pytest.Config) -> None:
    from waqiti_drill.faults.lock import adopt_inherited_fd

    adopt_inherited_fd()  # the drill lock's descriptor stays here, out of the servers a heal may restart


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("drill", "Waqiti drill suite")
    group.addoption(PLAN_OPTION, help="collect only: write the selected scenarios and their steps to FILE")


def describe(item: pytest.Item) -> dict[str, Any] | None:
    """Feature, scenario (named as results.json names it) and steps of a pytest-bdd item, or None."""
    found = template_of(item)
    if found is None:
        return None
    template, values = found
    scenario = template.render(values)
    feature = template.feature
    return {"feature": feature.name or Path(feature.filename).stem,
            "scenario": scenario.name + (" [" + ", ".join(values.values()) + "]" if values else ""),
            "file": feature.filename, "line": scenario.line_number,
            "tags": sorted({m.name for m in item.iter_markers()} & set(KNOWN_TAGS)),
            "steps": [{"keyword": s.keyword, "text": s.name, "line": s.line_number, "type": s.type}
                      for s in scenario.steps]}


def pytest_collection_finish(session: pytest.Session) -> None:
    """The scenarios that will run (after -m): published for the live view, or written as the plan."""
    global _events
    described = [(item, describe(item)) for item in session.items]
    plan = session.config.getoption(PLAN_OPTION)
    if plan:
        from waqiti_drill.suite.plan import fault_steps

        rows = [{**d, "fault_steps": fault_steps(item, d, session)} for item, d in described if d]
        Path(plan).write_bytes(orjson.dumps(rows))
        return
    run_dir = session.config.getoption("--drill-run-dir")
    if not run_dir or session.config.getoption("--collect-only"):
        return
    _events = Events(Path(run_dir) / PROGRESS_FILE)
    scenarios = [{"feature": d["feature"], "scenario": d["scenario"]} for _, d in described if d]
    _numbers.update({item.nodeid: n for n, (item, _) in enumerate(described, start=1)})
    _events.emit("collected", scenarios=scenarios)


def _emit(event: str, **fields: Any) -> None:
    if _events is not None:
        _events.emit(event, **fields)


def pytest_bdd_before_scenario(request: pytest.FixtureRequest, feature: Any, scenario: Any) -> None:  # noqa: ANN401
    state = request.node.stash.get(STATE, None)
    n = _numbers.get(request.node.nodeid)
    if state is None or n is None:
        return
    run_dir = Path(request.config.getoption("--drill-run-dir"))
    request.node.user_properties += [("feature", state.feature), ("scenario", state.scenario),
                                     ("dir", state.directory.relative_to(run_dir).as_posix())]
    _emit("scenario", n=n, feature=state.feature, scenario=state.scenario,
          dir=state.directory.relative_to(run_dir).as_posix(), steps=len(scenario.steps))


def pytest_bdd_before_step(request: pytest.FixtureRequest, feature: Any, scenario: Any, step: Any,  # noqa: ANN401
                           step_func: Any) -> None:  # noqa: ANN401
    n = _numbers.get(request.node.nodeid)
    if n is not None:
        index = next((i for i, s in enumerate(scenario.steps, start=1) if s is step), 0)
        _emit("step", n=n, index=index, steps=len(scenario.steps), step=f"{step.keyword} {step.name}")


def pytest_bdd_step_error(request: pytest.FixtureRequest, feature: Any, scenario: Any, step: Any,  # noqa: ANN401
                          step_func: Any, step_func_args: Any, exception: BaseException) -> None:  # noqa: ANN401
    n = _numbers.get(request.node.nodeid)
    if n is not None:
        _emit("step_failed", n=n, step=f"{step.keyword} {step.name}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    if item.nodeid in _numbers:
        _emit("teardown", n=_numbers[item.nodeid])
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[object]:
    result = yield
    state = item.stash.get(STATE, None)
    if item.nodeid in _numbers:
        _emit("done", n=_numbers[item.nodeid], status=state.status if state is not None else "unknown")
    return result


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _events
    if _events is not None:
        _emit("finished", exitstatus=int(exitstatus))
        _events.close()
        _events = None
