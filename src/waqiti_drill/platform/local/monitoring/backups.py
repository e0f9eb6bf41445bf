"""Each backup's outcome pushed to the Pushgateway, as a backup CronJob would push it in production.

One group per stanza (job="waqiti_backup"), replaced by every push (PUT), so it always says how the
last backup went; BackupFailed fires on `waqiti_backup_last_success == 0`. A push that cannot be made
(monitoring down) never changes the backup's own result: it is logged to <state>/logs/backup-push.log,
and the Pushgateway's target shows as down in `drill status`.
"""

from __future__ import annotations

import time
import urllib.request
from dataclasses import dataclass

from waqiti_drill.platform.local.context import LocalContext

JOB = "waqiti_backup"


@dataclass(frozen=True)
class BackupOutcome:
    kind: str  # full | incr | diff
    succeeded: bool
    started: float  # epoch s
    finished: float
    label: str = ""
    repo_size_bytes: int = 0
    error: str = ""


def exposition(outcome: BackupOutcome) -> str:
    """The pushed metrics in Prometheus's text format (pure)."""
    labels = f'type="{outcome.kind}"'
    lines = [
        "# TYPE waqiti_backup_last_success gauge",
        f"waqiti_backup_last_success{{{labels}}} {1 if outcome.succeeded else 0}",
        "# TYPE waqiti_backup_last_finished_timestamp_seconds gauge",
        f"waqiti_backup_last_finished_timestamp_seconds{{{labels}}} {outcome.finished:.3f}",
        "# TYPE waqiti_backup_last_duration_seconds gauge",
        f"waqiti_backup_last_duration_seconds{{{labels}}} {outcome.finished - outcome.started:.3f}",
    ]
    if outcome.succeeded:
        lines += ["# TYPE waqiti_backup_last_repo_size_bytes gauge",
                  f"waqiti_backup_last_repo_size_bytes{{{labels}}} {outcome.repo_size_bytes}"]
    return "\n".join(lines) + "\n"


def push_backup_outcome(ctx: LocalContext, outcome: BackupOutcome) -> bool:
    """PUT the outcome to the Pushgateway; False (and a log line) when it could not be pushed."""
    if not ctx.settings.monitoring.enabled:
        return False
    stanza = ctx.settings.backup.stanza
    url = f"http://{ctx.host}:{ctx.settings.ports.pushgateway}/metrics/job/{JOB}/stanza/{stanza}"
    request = urllib.request.Request(url, data=exposition(outcome).encode(), method="PUT",
                                     headers={"Content-Type": "text/plain; version=0.0.4"})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            resp.read()
        return True
    except OSError as exc:
        log = ctx.state_dir / "logs" / "backup-push.log"
        with open(log, "a") as fh:
            fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} could not push the {outcome.kind} backup "
                     f"outcome (succeeded={outcome.succeeded}) to {url}: {exc}\n")
        return False
