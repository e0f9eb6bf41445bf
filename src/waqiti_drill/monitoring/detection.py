"""Time-to-detect, judged: from a condition's instant to the alert's pending, firing, notification and
resolution, against the budget the rule and the monitoring's own intervals allow. Pure functions over
plain records (the platform's AlertSample and AlertNotification), so a drill's figures can be re-derived
from what it recorded.

The budget of an alert is lead + for + scrape interval + evaluation interval + group_wait: the condition
needs `lead` to cross the rule's threshold (a replica's lag must first grow past 30 s), then at most one
scrape until Prometheus sees it and one evaluation until the rule does, `for` until it fires, and
Alertmanager holds a new alert group_wait before it notifies. A notification later than that is late; no
alert at all while the condition stood at least that long is missed; a condition that ended sooner was
not expected to fire (its pending instant, if any, is still reported).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from waqiti_drill.monitoring.rules import AlertRule
from waqiti_drill.platform.base import AlertNotification, AlertSample
from waqiti_drill.results import Detection
from waqiti_drill.timefmt import utc_iso

# How long a condition takes to cross its rule's threshold once induced, where that is not immediate.
LEAD_SECONDS = {"PostgresReplicationLag": 30.0}  # lag counts from the last replayed commit: 30 s to pass "> 30"
# Labels that say which instance an alert is about (the rest are the rule's own, or scrape plumbing).
_PLUMBING = {"severity", "spec", "category", "job", "instance", "server", "stack", "alertname", "alertstate"}


@dataclass(frozen=True)
class Intervals:
    scrape: float
    evaluation: float
    group_wait: float


@dataclass(frozen=True)
class Condition:
    """A condition the drill induced, which should raise `alert` for the instance `labels` names."""

    alert: str
    labels: dict[str, str]
    what: str  # e.g. "kill_member pg2"
    at: float  # epoch s: when it began
    ended: float | None = None  # epoch s: when it was undone; None while it stands
    lead_seconds: float | None = None  # None: LEAD_SECONDS for the alert, else 0
    # False: the drill's own probing may raise the alert (the security drill's refused logins), so what fires
    # after it is explained, not a false positive; but it is never judged (it need not fire, nor in time).
    required: bool = True


def identity(name: str, labels: dict[str, str]) -> str:
    """'PostgresInstanceDown{member=pg2}': the alert and the labels naming its instance."""
    own = ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in _PLUMBING)
    return f"{name}{{{own}}}"


def matches(labels: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


def budget_seconds(rule: AlertRule, lead: float, iv: Intervals) -> float:
    return round(lead + rule.for_seconds + iv.scrape + iv.evaluation + iv.group_wait, 3)


def _first(values: list[float]) -> float | None:
    return min(values) if values else None


def _epoch(text: str) -> float | None:
    """An RFC 3339 instant from Alertmanager (nanoseconds trimmed); None for its zero time or junk."""
    if not text or text.startswith("0001-"):
        return None
    head, _, frac = text.rstrip("Z").partition(".")
    try:
        base = dt.datetime.fromisoformat(head).replace(tzinfo=dt.UTC).timestamp()
    except ValueError:
        return None
    return base + (float(f"0.{frac}") if frac.isdigit() else 0.0)


def _since(at: float | None, origin: float) -> float | None:
    return None if at is None else round(at - origin, 3)


@dataclass
class _Seen:
    pending: float | None = None
    firing: float | None = None
    notified: float | None = None
    resolved: float | None = None
    resolved_notified: float | None = None
    notes: list[str] = field(default_factory=list)


def _observe(cond: Condition, samples: list[AlertSample], notes: list[AlertNotification]) -> _Seen:
    mine = [s for s in samples if s.name == cond.alert and matches(s.labels, cond.labels) and s.at >= cond.at]
    seen = _Seen(pending=_first([s.at for s in mine if s.state == "pending"]),
                 firing=_first([s.at for s in mine if s.state == "firing"]))
    if seen.pending is not None and seen.firing is not None and seen.pending > seen.firing:
        seen.pending = None  # a later episode's pending; this one went straight to firing
    told = [n for n in notes if n.name == cond.alert and matches(n.labels, cond.labels) and n.received_at >= cond.at]
    seen.notified = _first([n.received_at for n in told if n.status == "firing"])
    after = seen.firing if seen.firing is not None else cond.at
    resolved = sorted((n for n in told if n.status == "resolved" and n.received_at >= after),
                      key=lambda n: n.received_at)
    if resolved:
        seen.resolved, seen.resolved_notified = _epoch(resolved[0].ends_at), resolved[0].received_at
    return seen


def _verdict(seen: _Seen, expected: bool, budget: float, origin: float) -> str:
    if seen.firing is None:
        return "missed" if expected else "not expected"
    if seen.notified is None:
        return "not notified"
    return "detected" if seen.notified - origin <= budget else "late"


def measure(cond: Condition, rule: AlertRule, iv: Intervals, samples: list[AlertSample],
            notifications: list[AlertNotification], now: float) -> Detection:
    """The detection of one condition. `now` stands in for the end of a condition still standing."""
    lead = cond.lead_seconds if cond.lead_seconds is not None else LEAD_SECONDS.get(cond.alert, 0.0)
    budget = budget_seconds(rule, lead, iv)
    seen = _observe(cond, samples, notifications)
    held = (cond.ended if cond.ended is not None else now) - cond.at
    expected = held >= budget
    verdict = _verdict(seen, expected, budget, cond.at)
    if verdict == "not notified" and not expected:
        verdict = "not expected"  # it fired and resolved again before Alertmanager's group_wait was over
    note = ""
    if not cond.required:
        verdict = "not expected"
        note = ("the drill's own probes may raise it; not judged"
                + (f"; it fired {seen.firing - cond.at:.1f}s after they began" if seen.firing is not None else ""))
    elif verdict == "not expected":
        note = (f"the condition stood {held:.1f}s, less than the {budget:g}s budget"
                + (f"; pending {seen.pending - cond.at:.1f}s after it began" if seen.pending is not None else ""))
    elif seen.firing is not None and held < lead + rule.for_seconds:
        note = f"fired although the condition was recorded as undone after {held:.1f}s (it outlasted its undo)"
    return Detection(
        alert=cond.alert, labels=dict(cond.labels), condition=cond.what, condition_at=utc_iso(cond.at),
        held_seconds=None if cond.ended is None else round(held, 3), window_seconds=rule.for_seconds,
        lead_seconds=lead, budget_seconds=budget, verdict=verdict,
        pending_at=utc_iso(seen.pending), firing_at=utc_iso(seen.firing), notified_at=utc_iso(seen.notified),
        resolved_at=utc_iso(seen.resolved), resolved_notified_at=utc_iso(seen.resolved_notified),
        pending_seconds=_since(seen.pending, cond.at), firing_seconds=_since(seen.firing, cond.at),
        notified_seconds=_since(seen.notified, cond.at), resolved_seconds=_since(seen.resolved, cond.at), note=note)


def fired(samples: list[AlertSample]) -> dict[str, float]:
    """Every alert instance that fired, with its first firing evaluation."""
    out: dict[str, float] = {}
    for s in samples:
        if s.state == "firing":
            key = identity(s.name, s.labels)
            out[key] = min(out.get(key, s.at), s.at)
    return out


def false_positives(samples: list[AlertSample], rules: dict[str, AlertRule], explained_from: float | None,
                    excluded: set[str], carried: dict[str, float] | None = None) -> list[str]:
    """Critical alerts that fired with nothing to explain them: before the drill's first fault or condition
    (`explained_from`; None: the scenario had none), leaving out those already active when it began and
    those an earlier scenario's condition still explains (`carried`: alert -> until when it can)."""
    out = []
    carried = carried or {}
    for key, at in sorted(fired(samples).items()):
        name = key.split("{", 1)[0]
        critical = rules.get(name) is None or rules[name].severity == "critical"
        if key in excluded or not critical or at <= carried.get(key, float("-inf")):
            continue
        if explained_from is None or at < explained_from:
            out.append(key)
    return out


def failed(detections: list[Detection]) -> list[str]:
    """One line per detection the drill must fail on: missed, late, or fired but never notified."""
    return [f"{d.alert}{{{','.join(f'{k}={v}' for k, v in sorted(d.labels.items()))}}} after {d.condition}: "
            f"{d.verdict}" + (f" (notified {d.notified_seconds:.1f}s > budget {d.budget_seconds:g}s)"
                              if d.verdict == "late" and d.notified_seconds is not None else
                              f" (budget {d.budget_seconds:g}s)")
            for d in detections if d.verdict in ("missed", "late", "not notified")]
