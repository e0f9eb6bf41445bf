"""What the platform's monitoring saw of one scenario: a quiet start, the alerts the drill's conditions
raised (timed and judged, monitoring/detection.py), and any alert that fired with nothing to explain it.

Every scenario of `drill run` has one (when the platform is monitored). The conditions are the scenario's
own fault records (monitoring/expected.py maps each fault kind to the alerts it should raise) plus those a
step adds (a backup that failed, a WAL segment left waiting). The samples and notifications are read once,
at the end, from the platform's Monitoring capability: never from the platform's internals.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from waqiti_drill.config import Settings
from waqiti_drill.errors import InvalidConfig
from waqiti_drill.monitoring import detection
from waqiti_drill.monitoring.detection import Condition, Intervals
from waqiti_drill.monitoring.expected import FAILED_LOGIN_ALERT, FAILED_LOGIN_WINDOW, conditions_from_faults
from waqiti_drill.monitoring.rules import AlertRule, load_rules, rules_by_name
from waqiti_drill.platform.base import MonitoringStatus, Platform
from waqiti_drill.results import Detection, MonitoringSeen
from waqiti_drill.waiting import wait_until

QUIET_TIMEOUT = 90.0  # a previous scenario's alert resolves within a scrape and an evaluation of its heal


@dataclass
class MonitoringWatch:
    platform: Platform
    settings: Settings
    history_dir: Path
    started: float = field(default_factory=time.time)
    status: MonitoringStatus | None = None
    rules: dict[str, AlertRule] = field(default_factory=dict)
    added: list[Condition] = field(default_factory=list)
    active_at_start: list[str] = field(default_factory=list)
    carried_over: list[str] = field(default_factory=list)  # failed-login alerts an earlier scenario's logins explain
    carried_until: float = 0.0  # epoch s: until when those logins can raise them
    notes: list[str] = field(default_factory=list)

    def begin(self, quiet_timeout: float = QUIET_TIMEOUT) -> None:
        """Read the monitoring's settings and wait (bounded) until no alert is pending or firing, so what
        fires during the scenario is the scenario's. Alerts still active then are noted and left out.

        Refused logins of an earlier scenario (the probes' plain-text startups, an md5 role, a burst) still in
        the failed-login alert's one-minute window can raise it on their own after this start. Waiting for the
        window to empty cost up to a minute after every such scenario, so it is not waited for here: the
        alert of those members is carried over, never this scenario's false positive while that window can
        still explain it. A scenario that judges the failed-login alert waits for an empty window in its own
        step (await_no_refused_logins), before it refuses logins."""
        self.status = self.platform.monitoring_status()
        self.rules = rules_by_name(load_rules(self.settings.monitoring.rules_path))
        loaded = self.status.rules_sha256
        if loaded and loaded != _sha256(self.settings.monitoring.rules_path):
            self.notes.append("Prometheus runs other rules than the checkout's file ('drill up' loads them)")

        def quiet() -> tuple[bool, list[str]]:
            self.carried_over = self._refused_logins_carried()
            now = [a for a in self._active() if a not in self.carried_over]
            return not now, now

        try:
            wait_until(quiet, quiet_timeout, "no alert pending or firing before the scenario", interval=1.0)
        except Exception:  # noqa: BLE001 - a noisy start is recorded, not fatal: the drill itself may still run
            self.active_at_start = [a for a in self._active() if a not in self.carried_over]
        self.started = time.time()
        m = self.status
        self.carried_until = self.started + FAILED_LOGIN_WINDOW + m.scrape_interval_seconds \
            + m.evaluation_interval_seconds

    def _active(self) -> list[str]:
        return sorted({detection.identity(a.name, a.labels) for a in self.platform.active_alerts()})

    def _refused_logins_carried(self) -> list[str]:
        """The failed-login alert of every member with refused logins in its window now."""
        return sorted(detection.identity(FAILED_LOGIN_ALERT, {"member": m})
                      for m, v in self.platform.refused_logins_in_window().items() if v > 0)

    def await_no_refused_logins(self, timeout: float = QUIET_TIMEOUT) -> None:
        """Until no refused login is left in the failed-login alert's window and the alert is not active:
        a step that judges that alert's detection starts from a clean window (the quiet start leaves it)."""
        def clear() -> tuple[bool, list[str]]:
            firing = sorted(detection.identity(a.name, a.labels) for a in self.platform.active_alerts()
                            if a.name == FAILED_LOGIN_ALERT)
            left = self._refused_logins_carried() + firing
            return not left, left

        wait_until(clear, timeout, f"no refused login in the {FAILED_LOGIN_ALERT} window and the alert inactive",
                   interval=1.0)

    def add(self, alert: str, labels: dict[str, str], what: str, at: float | None = None,
            lead_seconds: float | None = None, required: bool = True) -> Condition:
        """A condition a step induced (the fault records cover the rest); it must name a rule that exists.
        `required=False`: the step's probing may raise the alert (explained, never judged)."""
        if self.rules and alert not in self.rules:
            raise InvalidConfig(f"alert {alert} is not in {self.settings.monitoring.rules_path}")
        condition = Condition(alert, labels, what, time.time() if at is None else at, None, lead_seconds, required)
        self.added.append(condition)
        return condition

    def end(self, alert: str, at: float | None = None) -> None:
        """The added conditions of `alert` that still stand are over (e.g. a backup succeeded again)."""
        when = time.time() if at is None else at
        self.added = [Condition(c.alert, c.labels, c.what, c.at, when, c.lead_seconds, c.required)
                      if c.alert == alert and c.ended is None else c for c in self.added]

    def conditions(self) -> tuple[list[Condition], list[str]]:
        from_faults, uncovered = conditions_from_faults(self.history_dir)
        return sorted(from_faults + self.added, key=lambda c: c.at), uncovered

    @property
    def intervals(self) -> Intervals:
        m = self.status
        assert m is not None, "begin() reads the monitoring's settings"
        return Intervals(m.scrape_interval_seconds, m.evaluation_interval_seconds, m.group_wait_seconds)

    def detections(self, now: float | None = None) -> list[Detection]:
        """Every condition's detection, from what Prometheus and the receiver recorded so far."""
        now = time.time() if now is None else now
        conditions, _ = self.conditions()
        samples = self.platform.alert_samples(self.started, now)
        told = self.platform.alert_notifications(self.started)
        return [detection.measure(c, self.rules[c.alert], self.intervals, samples, told, now)
                for c in conditions if c.alert in self.rules]

    def seen(self, now: float | None = None) -> tuple[list[Detection], MonitoringSeen]:
        """The detections and what else monitoring saw; false positives are critical alerts fired before any
        fault or condition of the scenario (or in a scenario with none)."""
        now = time.time() if now is None else now
        conditions, uncovered = self.conditions()
        samples = self.platform.alert_samples(self.started, now)
        found = self.detections(now)
        instants = [c.at for c in conditions] + fault_instants(self.history_dir)
        m = self.status
        assert m is not None
        seen = MonitoringSeen(
            scrape_interval_seconds=m.scrape_interval_seconds,
            evaluation_interval_seconds=m.evaluation_interval_seconds, group_wait_seconds=m.group_wait_seconds,
            group_interval_seconds=m.group_interval_seconds,
            rules_sha256=m.rules_sha256, fired=sorted(detection.fired(samples)),
            false_positives=detection.false_positives(
                samples, self.rules, min(instants, default=None), set(self.active_at_start),
                dict.fromkeys(self.carried_over, self.carried_until)),
            uncovered=uncovered, active_at_start=list(self.active_at_start), carried_over=list(self.carried_over))
        return found, seen


def fault_instants(history_dir: Path) -> list[float]:
    """Every fault injected in the scenario (a fault no alert watches still explains what fires after it)."""
    from waqiti_drill.monitoring.expected import fault_records

    return [r.wall for r in fault_records(history_dir) if r.phase == "inject"]


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
