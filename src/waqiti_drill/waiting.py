"""The one wait used everywhere: poll a condition until a deadline, then say what was last seen."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import TypeVar

from waqiti_drill.errors import InvalidConfig, WaitTimeout

T = TypeVar("T")

# Scales every deadline (slow CI machines set DRILL_TIMEOUT_MULTIPLIER, as Patroni's behave suite does): the
# features' "within N seconds" bounds and every other wait. Recorded in run.json and shown in the evidence.
MULTIPLIER_ENV = "DRILL_TIMEOUT_MULTIPLIER"
MAX_MULTIPLIER = 100.0


def timeout_multiplier() -> float:
    """The multiplier in force; a value that is not a number in (0, 100] is a one-line InvalidConfig (a typo
    must not silently become 1, nor 0 turn every wait into an instant failure)."""
    raw = os.environ.get(MULTIPLIER_ENV, "").strip()
    if not raw:
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 < value <= MAX_MULTIPLIER:
        raise InvalidConfig(f"{MULTIPLIER_ENV} must be a number in (0, {MAX_MULTIPLIER:g}], got {raw!r}")
    return value


def wait_until(
    probe: Callable[[], tuple[bool, T]],
    timeout: float,
    describe: str,
    interval: float = 0.2,
    *,
    scaled: bool = True,
) -> T:
    """Call `probe` until it returns (True, seen); raise WaitTimeout naming `describe` and the last `seen`.

    A probe that raises counts as not-yet, and its error becomes what was last seen, so a server
    that is still starting does not abort the wait. `scaled=False` is for a bound the user gave on the
    command line (`drill heal --wait 60`): that is their own limit, not the harness's estimate of a slow
    machine, so DRILL_TIMEOUT_MULTIPLIER does not stretch it.
    """
    if scaled:
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
