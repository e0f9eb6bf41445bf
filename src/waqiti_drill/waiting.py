"""The one wait used everywhere: poll a condition until a deadline, then say what was last seen."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from waqiti_drill.errors import WaitTimeout

T = TypeVar("T")

# Scales every deadline (slow CI machines set DRILL_TIMEOUT_MULTIPLIER, as Patroni's behave suite does).
_MULTIPLIER_ENV = "DRILL_TIMEOUT_MULTIPLIER"


def timeout_multiplier() -> float:
    import os

    raw = os.environ.get(_MULTIPLIER_ENV, "1")
    try:
        value = float(raw)
    except ValueError:
        return 1.0
    return value if value > 0 else 1.0


def wait_until(
    probe: Callable[[], tuple[bool, T]],
    timeout: float,
    describe: str,
    interval: float = 0.2,
) -> T:
    """Call `probe` until it returns (True, seen); raise WaitTimeout naming `describe` and the last `seen`.

    A probe that raises counts as not-yet, and its error becomes what was last seen, so a server
    that is still starting does not abort the wait.
    """
    timeout = timeout * timeout_multiplier()
    deadline = time.monotonic() + timeout
    seen: object = "nothing yet"
    while True:
        try:
            ok, value = probe()
            seen = value
            if ok:
                return value
        except Exception as exc:  # noqa: BLE001 - a failing probe is an observation, not an abort
            seen = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:.3g}s waiting for {describe}; last saw: {seen}")
        time.sleep(interval)
