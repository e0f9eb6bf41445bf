"""Running one recorded operation: invoke, call, classify the outcome, complete; never drop one.

Shared by every Locust user so that each operation is recorded the same way. `report` feeds
Locust's own statistics (its CSV is kept with the run); `classify` maps an exception to fail/info.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from waqiti_drill.workload.recorder import Recorder

Report = Callable[[str, str, float, BaseException | None], None]


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def perform(
    recorder: Recorder,
    report: Report,
    proc: str,
    service: str,
    shard: str,
    f: str,
    value: dict[str, Any],
    action: Callable[[], dict[str, Any] | None],
    classify: Callable[[BaseException], str],
) -> str:
    """Record and run `action`; returns the outcome. A BaseException (the user being stopped) is
    recorded as `info` with `interrupted: true`, since the reply never came and the harness, not the
    target, cut it short; then re-raised."""
    op = recorder.invoke(proc, service, shard, f, value)
    started = time.perf_counter()
    try:
        result = action()
    except Exception as exc:
        outcome = classify(exc)
        recorder.complete(op, outcome, {"error": first_line(exc)})
        report(service, f, (time.perf_counter() - started) * 1000, exc)
        return outcome
    except BaseException as exc:  # GreenletExit, KeyboardInterrupt: the harness stopping this user
        recorder.complete(op, "info", {"error": first_line(exc) or type(exc).__name__, "interrupted": True})
        raise
    recorder.complete(op, "ok", result)
    report(service, f, (time.perf_counter() - started) * 1000, None)
    return "ok"
