"""Load shapes by name: how many users run at each moment of a load run.

Pure functions of the run time, so they are unit-tested without Locust; loadprofiles/locustfile.py
wraps the chosen one in a LoadTestShape. A shape returns (users, spawn rate per second), or None when
the run is over (only when a duration was given: drills stop the load themselves).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Tick = tuple[int, float] | None


@dataclass(frozen=True)
class LoadProfile:
    """`users` is the profile's nominal load; `duration` None means until the harness stops it."""

    name: str
    users: int
    duration: float | None = None

    def tick(self, run_time: float) -> Tick:
        if self.duration is not None and run_time >= self.duration:
            return None
        return SHAPES[self.name](self.users, run_time)


def steady(users: int, t: float) -> Tick:
    """All users at once, held: a constant rate for baseline throughput."""
    return users, float(users)


def ramp(users: int, t: float, ramp_seconds: float = 60.0) -> Tick:
    """From one user to `users` linearly over a minute, then held: finds where latency bends."""
    target = max(1, min(users, 1 + int((users - 1) * t / ramp_seconds)))
    return target, max(1.0, users / ramp_seconds)


def spike(users: int, t: float, period: float = 60.0, spike_seconds: float = 15.0) -> Tick:
    """A third of the users, tripled for 15 s in the second half of every minute: a payday burst."""
    base = max(1, users // 3)
    in_spike = period / 2 <= t % period < period / 2 + spike_seconds
    return (users if in_spike else base), float(users)


def drill(users: int, t: float, warmup_seconds: float = 5.0) -> Tick:
    """The drills' load: ramps up over 5 s, then holds steady so the fault meets a known rate."""
    target = max(1, min(users, round(users * t / warmup_seconds)))
    return target, max(1.0, users / warmup_seconds)


SHAPES: dict[str, Callable[[int, float], Tick]] = {"steady": steady, "ramp": ramp, "spike": spike, "drill": drill}
