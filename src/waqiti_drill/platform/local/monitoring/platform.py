"""LocalPlatform's Monitoring capability (platform/base.py): what the embedded Prometheus saw and what the
harness's receiver got, plus the hooks `up` and `status` call. Mixed into LocalPlatform."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from waqiti_drill.errors import DrillError
from waqiti_drill.platform.base import ActiveAlert, AlertNotification, AlertSample, BackupInfo, MonitoringStatus
from waqiti_drill.platform.local.monitoring.backups import BackupOutcome, push_backup_outcome
from waqiti_drill.platform.local.monitoring.faults import LocalMonitoringFaults
from waqiti_drill.platform.local.monitoring.stack import MonitoringStack

if TYPE_CHECKING:
    from waqiti_drill.platform.local.context import LocalContext


class LocalMonitoring(LocalMonitoringFaults):
    context: Callable[..., LocalContext]

    def _monitoring(self) -> MonitoringStack:
        return MonitoringStack(self.context())

    def monitoring_status(self) -> MonitoringStatus:
        return self._monitoring().status()

    def active_alerts(self) -> list[ActiveAlert]:
        return self._monitoring().active_alerts()

    def alert_samples(self, since: float, until: float) -> list[AlertSample]:
        return self._monitoring().alert_samples(since, until)

    def alert_notifications(self, since: float) -> list[AlertNotification]:
        return self._monitoring().notifications(since)

    def refused_logins_in_window(self) -> dict[str, float]:
        return self._monitoring().refused_logins_in_window()

    def _monitoring_view(self) -> tuple[MonitoringStatus | None, list[str]]:
        """For `drill status`: the status, and one problem line per part or target that does not answer."""
        stack = self._monitoring()
        if not stack.enabled:
            return None, []
        try:
            status = stack.status()
        except OSError as exc:
            return None, [f"monitoring: Prometheus does not answer ({exc})"]
        down = [f"monitoring: target {t.job} {t.instance} is {t.health}: {t.last_error or 'not scraped yet'}"
                for t in status.targets if t.health != "up"]
        return status, down

    def _backup_pushed(self, kind: str, run: Callable[[], BackupInfo]) -> BackupInfo:
        """Run a backup and push its outcome, success or failure, as the backup job would."""
        started = time.time()
        try:
            info = run()
        except (DrillError, OSError) as exc:
            push_backup_outcome(self.context(), BackupOutcome(kind, False, started, time.time(), error=str(exc)))
            raise
        push_backup_outcome(self.context(), BackupOutcome(kind, True, started, time.time(), label=info.label,
                                                          repo_size_bytes=info.repo_size_bytes))
        return info
