"""Detection in the evidence: each scenario's alert timeline as a plot, and the detection table against the
budgets. Drawn from results.json alone (the detections the drill recorded), like every other part of it.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from waqiti_drill.report.model import parse_utc
from waqiti_drill.report.plots import _png
from waqiti_drill.results import Detection, ScenarioResult

PENDING, FIRING = "#f5b041", "#c0392b"


def _lane(d: Detection) -> str:
    who = ",".join(f"{k}={v}" for k, v in sorted(d.labels.items()))
    return f"{d.alert}\n{who}" if who else d.alert


def origin(result: ScenarioResult) -> float | None:
    """x = 0 of the plot: the fault instant (or the first condition's, for a scenario without a fault)."""
    where = f"results.json: {result.scenario}"
    fault = parse_utc(result.timeline.fault_injected, where)
    starts = [parse_utc(d.condition_at, where) for d in result.detections]
    candidates = [t for t in [fault, *starts] if t is not None]
    return min(candidates) if candidates else None


def _x(text: str | None, zero: float) -> float | None:
    value = parse_utc(text, "detection")
    return None if value is None else value - zero


def alerts_png(result: ScenarioResult) -> bytes:
    """One lane per detection: pending (amber) and firing (red) spans, the notification, the resolution, the
    budget's end; the fault (or condition) instant is x = 0, the end of the heal is marked."""
    zero = origin(result) or 0.0
    shown = result.detections
    figure = Figure(figsize=(10, 0.9 + 0.75 * max(1, len(shown))))
    axes = figure.add_subplot()
    ends = [v for d in shown for v in (_x(d.resolved_at, zero), _x(d.notified_at, zero),
                                       d.budget_seconds + (_x(d.condition_at, zero) or 0.0)) if v is not None]
    end_default = max(ends, default=60.0)
    for lane, d in enumerate(shown):
        start = _x(d.condition_at, zero) or 0.0
        pending, firing = _x(d.pending_at, zero), _x(d.firing_at, zero)
        resolved = _x(d.resolved_at, zero)
        if pending is not None:
            axes.barh(lane, (firing if firing is not None else (resolved or end_default)) - pending, left=pending,
                      color=PENDING, height=0.5, label="pending" if lane == 0 else None)
        if firing is not None:
            axes.barh(lane, (resolved if resolved is not None else end_default) - firing, left=firing, color=FIRING,
                      height=0.5, label="firing" if lane == 0 else None)
        notified = _x(d.notified_at, zero)
        if notified is not None:
            axes.plot([notified], [lane], marker="D", color="black", markersize=7,
                      label="notified (receiver)" if lane == 0 else None)
        axes.plot([start + d.budget_seconds] * 2, [lane - 0.35, lane + 0.35], color="#1f618d", linewidth=2,
                  label="budget" if lane == 0 else None)
        axes.plot([start], [lane], marker="|", color="black", markersize=18)
        axes.text(end_default * 1.02 + 1, lane, d.verdict, va="center", fontsize=8)
    axes.axvline(0, color="black", linestyle="--", linewidth=1.2, label="fault injected")
    healthy = _x(result.timeline.healthy, zero)
    if healthy is not None:
        axes.axvline(healthy, color="#2e7d32", linestyle=":", linewidth=1.5, label="healed (healthy)")
    axes.set_yticks(range(len(shown)), [_lane(d) for d in shown], fontsize=8)
    axes.set_ylim(-0.7, max(0.7, len(shown) - 0.3))
    axes.set_xlim(right=end_default * 1.15 + 5)  # room for the verdicts
    axes.set_xlabel("seconds from the fault")
    axes.set_title(f"{result.scenario}: alerts", fontsize=10)
    axes.grid(axis="x", alpha=0.3)
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    return _png(figure)


def detection_rows(result: ScenarioResult) -> list[dict[str, Any]]:
    """The detection table's rows of one scenario (seconds from the condition's instant)."""
    return [{"scenario": result.scenario, "alert": d.alert, "instance": d.labels, "condition": d.condition,
             "window_seconds": d.window_seconds, "lead_seconds": d.lead_seconds, "budget_seconds": d.budget_seconds,
             "pending_seconds": d.pending_seconds, "firing_seconds": d.firing_seconds,
             "notified_seconds": d.notified_seconds, "resolved_seconds": d.resolved_seconds,
             "margin_seconds": None if d.notified_seconds is None else round(d.budget_seconds - d.notified_seconds, 3),
             "verdict": d.verdict, "note": d.note} for d in result.detections]


def decomposition(result: ScenarioResult) -> dict[str, float | None]:
    """The RTO decomposed, in seconds from the fault: detected (alert firing), notified, writable again,
    healthy (the heal finished)."""
    zero = origin(result)
    t = result.timeline
    if zero is None:
        return {}
    return {name: None if value is None else round(value, 3) for name, value in (
        ("detected", _x(t.alert_firing, zero)), ("notified", _x(t.alert_notified, zero)),
        ("writable_again", _x(t.writable_again, zero)), ("healthy", _x(t.healthy, zero)))}
