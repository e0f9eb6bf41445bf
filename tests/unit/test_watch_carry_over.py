"""The quiet start of a scenario's monitoring watch: what it waits for, and what it carries over.

The watch reads the Monitoring capability only; a small stand-in gives it the answers of a monitored
platform at chosen moments (Prometheus's own queries are exercised by the integration tests and drills).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from waqiti_drill.config import Settings
from waqiti_drill.errors import WaitTimeout
from waqiti_drill.platform.base import ActiveAlert, MonitoringStatus
from waqiti_drill.suite import watch as watch_module
from waqiti_drill.suite.watch import MonitoringWatch


@dataclass
class Monitored:
    """Answers the watch's questions; `refused` and `alerts` are what monitoring holds now."""

    refused: dict[str, float] = field(default_factory=dict)
    alerts: list[ActiveAlert] = field(default_factory=list)
    polls: int = 0

    def monitoring_status(self) -> MonitoringStatus:
        return MonitoringStatus("http://127.0.0.1:1", "http://127.0.0.1:2", 5.0, 5.0, 1.0, 5.0, "", "")

    def active_alerts(self) -> list[ActiveAlert]:
        self.polls += 1
        return list(self.alerts)

    def refused_logins_in_window(self) -> dict[str, float]:
        return dict(self.refused)


def firing(name: str, member: str) -> ActiveAlert:
    return ActiveAlert(name, {"member": member, "severity": "critical", "job": "logwatch"}, "firing",
                       "2026-12-03T12:00:00Z", "8")


def watch_of(platform: Monitored, tmp_path: Path) -> MonitoringWatch:
    return MonitoringWatch(platform, Settings(state_dir=tmp_path), tmp_path)  # type: ignore[arg-type]


def test_an_earlier_scenarios_refused_logins_are_carried_over_without_a_wait(tmp_path):
    platform = Monitored(refused={"pg1": 3.0, "pg2": 0.0}, alerts=[firing("PostgresFailedLogins", "pg1")])
    w = watch_of(platform, tmp_path)
    w.begin(quiet_timeout=5.0)
    assert w.carried_over == ["PostgresFailedLogins{member=pg1}"]
    assert w.active_at_start == [] and platform.polls == 1  # no wait: quiet at the first look
    assert w.carried_until == pytest.approx(w.started + 60 + 5 + 5)


def test_any_other_active_alert_is_still_waited_for_and_then_left_out(tmp_path, monkeypatch):
    monkeypatch.setattr(watch_module, "wait_until", _no_wait)
    platform = Monitored(refused={"pg1": 2.0}, alerts=[firing("PostgresFailedLogins", "pg2"),
                                                       firing("PostgresDiskSpace", "pg3")])
    w = watch_of(platform, tmp_path)
    w.begin(quiet_timeout=0.1)
    # pg2's failed-login alert has no refused login left in its window to explain it: not carried over
    assert w.active_at_start == ["PostgresDiskSpace{member=pg3}", "PostgresFailedLogins{member=pg2}"]
    assert w.carried_over == ["PostgresFailedLogins{member=pg1}"]


def test_the_failed_login_step_waits_for_an_empty_window_and_an_inactive_alert(tmp_path, monkeypatch):
    platform = Monitored(refused={"pg1": 1.0})
    w = watch_of(platform, tmp_path)
    w.begin(quiet_timeout=1.0)
    monkeypatch.setattr(watch_module, "wait_until", _no_wait)
    with pytest.raises(WaitTimeout, match=r"PostgresFailedLogins\{member=pg1\}"):
        w.await_no_refused_logins(timeout=0.1)
    platform.refused, platform.alerts = {}, [firing("PostgresFailedLogins", "pg1")]
    with pytest.raises(WaitTimeout, match="PostgresFailedLogins"):
        w.await_no_refused_logins(timeout=0.1)
    platform.alerts = [firing("PostgresDiskSpace", "pg1")]  # another alert is not this step's business
    w.await_no_refused_logins(timeout=0.1)


def _no_wait(probe, timeout, what, interval=0.5):  # noqa: ANN001, ANN202 - wait_until's shape, one look only
    done, detail = probe()
    if not done:
        raise WaitTimeout(f"{what}: {detail}")
    return detail
