"""A chaostoolkit control that makes every experiment safe to run against a shared stack.

Declared in each scenario (controls: - name: waqiti-drill-safety, provider: {type: python, module:
waqiti_drill.faults.controls}), so it also applies to a plain `chaos run`:

- before the experiment: take the drill lock (one drill at a time per stack) and refuse to start
  when the platform is not healthy, or when the ledger still holds faults of an earlier run;
- during it: an abort guard watches the run's history (when there is a run); when the clients' write
  error ratio stays above `abort_error_ratio` for longer than the RTO target, it interrupts the
  experiment, which then runs its rollbacks (the heal);
- after it: release the lock.

The state of all this (the lock held, the guard running, whether this drill was refused) belongs to one
Safety object per stack, owned by its FaultEngine.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaoslib.exceptions import InterruptExecution

from waqiti_drill.checker.load import HistoryTail, error_ratio
from waqiti_drill.errors import InvalidHistory, LockHeld
from waqiti_drill.faults import health
from waqiti_drill.faults.context import Configuration, engine, run_dir_of
from waqiti_drill.faults.lock import DrillLock, Held

__all__ = ["AbortGuard", "DrillLock", "Safety", "after_experiment_control", "before_experiment_control"]

if TYPE_CHECKING:
    from waqiti_drill.faults.engine import FaultEngine

logger = logging.getLogger("chaostoolkit")
GUARD_INTERVAL = 2.0  # seconds between two readings of the history by the abort guard


class Safety:
    """The drill lock, the abort guard and the start verdict of the experiment running on one stack."""

    def __init__(self, faults: FaultEngine) -> None:
        self.faults = faults
        self.lock = DrillLock(faults.settings.state_dir)
        self._held: Held | None = None
        self.guard: AbortGuard | None = None
        self.refused = False  # the drill was refused at start: its rollbacks must not touch the platform

    def holds_lock(self) -> bool:
        """True while a drill that passed its start checks runs in this process."""
        return self._held is not None and not self.refused

    def begin(self, configuration: Configuration) -> None:
        """Lock, then refuse a platform with faults left or problems; start the guard. InterruptExecution
        (chaostoolkit's way to stop before the method) names why a drill was refused."""
        self.refused = True  # until every check below has passed
        if self._held is None:
            run_dir = run_dir_of(configuration)
            try:
                self._held = self.lock.acquire(run_dir.name if run_dir else "-")
            except LockHeld as exc:
                raise InterruptExecution(str(exc)) from None
            if self._held.note:
                logger.warning(self._held.note)
        left = self.faults.ledger.active()
        if left:
            raise InterruptExecution("faults of an earlier run are still active ("
                                     + ", ".join(f"{f.kind} {f.target}" for f in left) + "); run 'drill heal' first")
        problems = health.problems(self.faults.platform)
        if problems:
            raise InterruptExecution("the target is not healthy: " + "; ".join(problems))
        self.refused = False
        run_dir = run_dir_of(configuration)
        if run_dir is not None:
            conf = configuration or {}
            self.guard = AbortGuard(run_dir / "history", float(conf.get("abort_error_ratio", 0.5)),
                                    float(conf.get("abort_after_seconds", self.faults.settings.targets.rto_seconds)))
            self.guard.start()

    def end(self) -> None:
        if self.guard is not None:
            self.guard.stop()
            self.guard = None
        if self._held is not None:
            self._held.release()
            self._held = None
        self.refused = False

    @contextlib.contextmanager
    def for_action(self, kind: str) -> Iterator[None]:
        """A fault injected outside an experiment holds the lock while it is injected: inside a drill (this
        process's experiment, or the drill run that started this process) it is already held."""
        if self.holds_lock():
            yield
            return
        with self.lock.held("-", f"fault action {kind}") as held:
            if held.note:
                logger.warning(held.note)
            yield


def before_experiment_control(context: dict, configuration: Configuration = None, **_kw: Any) -> None:  # noqa: ANN401
    engine(configuration).safety.begin(configuration)


def after_experiment_control(context: dict, state: Any = None, configuration: Configuration = None,  # noqa: ANN401
                             **_kw: Any) -> None:  # noqa: ANN401
    engine(configuration).safety.end()


class AbortGuard(threading.Thread):
    """Interrupts the experiment when the clients' write error ratio stays above a bound for too long.

    Reads the run's history as it grows (the same parser as the checker); the interruption goes through
    chaoslib.exit, which signals the main thread so rollbacks run.
    """

    def __init__(self, history_dir: Path, ratio: float, seconds: float) -> None:
        super().__init__(name="drill-abort-guard", daemon=True)
        self.tail = HistoryTail(history_dir)
        self.ratio, self.seconds = ratio, seconds
        self._stopping = threading.Event()
        self.tripped: str | None = None

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        above_since: float | None = None
        before = None
        while before is None or not self._stopping.wait(GUARD_INTERVAL):
            try:
                now = self.tail.poll().total()
            except InvalidHistory as exc:  # a guard that cannot see must not let the fault stand unwatched
                self._trip(f"the history cannot be read ({exc})")
                return
            ratio = None if before is None else error_ratio(before, now, time.monotonic(), GUARD_INTERVAL)
            before = now
            if ratio is None or ratio <= self.ratio:
                above_since = None
                continue
            above_since = above_since or time.monotonic()
            if time.monotonic() - above_since > self.seconds:
                self._trip(f"write error ratio {ratio:.2f} above {self.ratio:.2f} for over {self.seconds:g}s")
                return

    def _trip(self, why: str) -> None:
        from chaoslib.exit import exit_gracefully

        self.tripped = why
        logger.error(f"aborting the experiment: {why}")
        exit_gracefully()
