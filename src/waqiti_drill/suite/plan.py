"""`drill run --plan`: what a run would do, before it does anything.

No side effects: the input is checked as for a run (same one-line errors), the scenarios are collected by
pytest with the real step modules (collect-only, nothing runs, nothing is written under the reports
directory: the collector's output goes to a temporary directory), the target's health is read (the same
read-only status queries `drill status` makes), and earlier runs' results.json give the expected
durations and the fault each scenario recorded last time.

A scenario's fault steps are the steps whose definition hands its result on as the `fault` fixture
(target_fixture="fault"): the step's own words say what is broken and where ("the PostgreSQL primary is
killed"), and the step function's docstring says how.
"""

from __future__ import annotations

import subprocess
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from waqiti_drill.errors import InvalidConfig
from waqiti_drill.suite.estimates import Estimates, human


def fault_steps(item: Any, described: dict[str, Any], session: Any) -> list[dict[str, str]]:  # noqa: ANN401
    """The item's steps that inject its fault (runs inside the pytest collector)."""
    from pytest_bdd.scenario import find_fixturedefs_for_step, step_function_context_registry

    from waqiti_drill.suite.plugin import template_of

    found = template_of(item)
    if found is None:
        return []
    template, values = found
    out = []
    for step in template.render(values).steps:
        for fixturedef in find_fixturedefs_for_step(step, session._fixturemanager, item):
            context = step_function_context_registry.get(fixturedef.func)
            if context is None or context.target_fixture not in ("fault", "journal"):
                continue
            if context.target_fixture == "journal":  # a chaostoolkit experiment: its method says what it breaks
                does = experiment_actions(str(context.parser.parse_arguments(step.name).get("name", "")))
            else:
                does = " ".join((context.step_func.__doc__ or "").strip().split("\n\n")[0].split())
            out.append({"step": f"{step.keyword} {step.name}", "does": does})
            break
    return out


def experiment_actions(name: str) -> str:
    """'scenarios/<name>.yaml: freeze_member(member=primary, seconds=5), ...': the method's actions."""
    import yaml

    from waqiti_drill.suite.drill import SCENARIOS

    path = SCENARIOS / f"{name}.yaml"
    try:
        method = (yaml.safe_load(path.read_text()) or {}).get("method") or []
    except (OSError, yaml.YAMLError) as exc:
        return f"{path.name}: cannot be read ({type(exc).__name__})"
    calls = []
    for activity in method:
        provider = activity.get("provider") or {}
        if activity.get("type") == "action" and provider.get("func"):
            args = ", ".join(f"{k}={v}" for k, v in (provider.get("arguments") or {}).items())
            calls.append(f"{provider['func']}({args})")
    return f"{path.name}: " + (", ".join(calls) or "no action")


@dataclass
class Planned:
    feature: str
    scenario: str
    file: str
    line: int
    tags: list[str]
    fault_steps: list[dict[str, str]] = field(default_factory=list)


def collect(argv: list[str], env: dict[str, str], cwd: Path) -> list[Planned]:
    """The scenarios pytest would run for `argv` (collect-only, in a temporary directory)."""
    with tempfile.TemporaryDirectory(prefix="drill-plan-") as tmp:
        out_file = Path(tmp) / "plan.json"
        done = subprocess.run([*argv, "--collect-only", "-q", f"--drill-plan={out_file}"], env=env, cwd=cwd,
                              capture_output=True, text=True, timeout=300)  # argv loads the progress plugin
        if not out_file.is_file():
            from waqiti_drill.suite.inputs import _last_error

            raise InvalidConfig(f"the scenarios could not be collected: {_last_error(done.stdout + done.stderr)}")
        rows = orjson.loads(out_file.read_bytes())
    return [Planned(feature=r["feature"], scenario=r["scenario"], file=r["file"], line=r["line"], tags=r["tags"],
                    fault_steps=r["fault_steps"]) for r in rows]


@dataclass
class Target:
    platform: str
    state_dir: str
    rto_seconds: float
    rpo_seconds: float
    problems: list[str] | None  # None: not checked


def _wrap(text: str, indent: str, width: int) -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_long_words=False, break_on_hyphens=False) or [indent]


def render(planned: list[Planned], estimates: Estimates, target: Target, tags: str | None, width: int = 100) -> str:
    """The plan as an operator reads it, in lines of at most `width` columns (long words aside)."""
    lines = [f"drill run --plan: {len(planned)} scenario(s) would run (tags: {tags or 'all'}); nothing was started"]
    for n, p in enumerate(planned, start=1):
        expected = estimates.expected(p.feature, p.scenario)
        past = estimates.by_scenario.get((p.feature, p.scenario))
        shown = f"~{human(expected)}" if expected is not None else "never run before"
        lines += _wrap(f"{n:3}. {Path(p.file).stem}: {p.scenario} [{shown}]", "", width)
        tags_shown = " ".join("@" + t for t in p.tags if t not in ("quarterly", "nightly")) or "-"
        lines += _wrap(f"{Path(p.file).name}:{p.line}  tags: {tags_shown}", "     ", width)
        for f in p.fault_steps:
            lines += _wrap(f"fault: {f['step']}" + (f" ({f['does']})" if f["does"] else ""), "     ", width)
        if not p.fault_steps:
            lines.append("     fault: none (checks only)")
        if past is not None and past.last_fault is not None:
            lines.append(f"     last run recorded: {past.last_fault[0]} on {past.last_fault[1]}")
    total, unknown = estimates.total([(p.feature, p.scenario) for p in planned])
    if unknown == len(planned):
        duration = "unknown (no earlier run of these scenarios under the reports directory)"
    else:
        more = f", plus {unknown} scenario(s) never run before" if unknown else ""
        duration = f"~{human(total)}{more} (median of the last runs; {estimates.runs} run(s) read)"
    lines += _wrap(f"expected duration: {duration}", "", width)
    lines += [f"  (passed over: {line})" for line in estimates.skipped]
    lines.append(f"DR targets: RTO {target.rto_seconds:g} s, RPO {target.rpo_seconds:g} s")
    if target.problems is None:
        health = "not checked"
    elif target.problems:
        health = "NOT healthy, a run would be refused (exit 7): " + "; ".join(target.problems)
    else:
        health = "healthy"
    lines += _wrap(f"target: {target.platform} stack in {target.state_dir}: {health}", "", width)
    return "\n".join(lines)
