"""The monitoring parts' configuration files, rendered from the settings (pure functions).

Nothing here holds a secret: the exporters take theirs from mode-600 files (see exporters.py), and
Prometheus, Alertmanager and the receivers listen on loopback without authentication, as the rest of
the stack's HTTP endpoints do.
"""

from __future__ import annotations

import re

import yaml

from waqiti_drill.config import MonitoringSettings, Settings
from waqiti_drill.platform.local.monitoring.targets import (
    JOB_NODE,
    JOB_PUSHGATEWAY,
    member_mount_points,
    scrape_targets,
)

RULES_NAME = "alerts.rules.yml"  # the repository's rules file, copied under this name into Prometheus's dir
WEBHOOK_PATH = "/alertmanager"


def duration(seconds: float) -> str:
    """A Prometheus/Alertmanager duration: whole milliseconds ("5s", "1500ms")."""
    ms = round(seconds * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def scrape_timeout(m: MonitoringSettings) -> float:
    """A scrape must end before the next one starts; an unreachable member's scrape times out in it."""
    return round(min(m.scrape_interval, 12.5) * 0.8, 3)


def render_prometheus(settings: Settings) -> str:
    """prometheus.yml: every exporter as its own target with its labels, the rules file, Alertmanager."""
    m, host = settings.monitoring, settings.host
    jobs: dict[str, list[dict]] = {}
    for t in scrape_targets(settings):
        jobs.setdefault(t.job, []).append({"targets": [t.address(host)], "labels": t.labels} if t.labels
                                          else {"targets": [t.address(host)]})
    scrape_configs = []
    for job, static in jobs.items():
        entry: dict = {"job_name": job, "static_configs": static}
        if job == JOB_PUSHGATEWAY:
            entry["honor_labels"] = True  # the pushed job/instance labels are the backup job's own
        if job == JOB_NODE:
            entry["metric_relabel_configs"] = _member_filesystems(settings)
        scrape_configs.append(entry)
    config = {
        "global": {
            "scrape_interval": duration(m.scrape_interval),
            "scrape_timeout": duration(scrape_timeout(m)),
            "evaluation_interval": duration(m.evaluation_interval),
            "external_labels": {"stack": settings.scope},
        },
        "rule_files": [RULES_NAME],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"{host}:{settings.ports.alertmanager}"]}]}]},
        "scrape_configs": scrape_configs,
    }
    return yaml.safe_dump(config, sort_keys=False)


def _member_filesystems(settings: Settings) -> list[dict]:
    """Keep only the members' own filesystems (the machine's others are not ours to watch), named by member."""
    points = member_mount_points(settings)
    out: list[dict] = [{"source_labels": ["__name__"], "regex": "node_filesystem_.*", "action": "keep"}]
    alternatives = "|".join(re.escape(str(p)) for p in points.values())
    out.append({"source_labels": ["mountpoint"], "regex": f"({alternatives})", "action": "keep"})
    for name, point in points.items():
        out.append({"source_labels": ["mountpoint"], "regex": re.escape(str(point)), "target_label": "member",
                    "replacement": name})
    return out


def render_alertmanager(settings: Settings) -> str:
    """alertmanager.yml: every alert its own group (so each is notified after group_wait), to the harness."""
    m = settings.monitoring
    url = f"http://{settings.host}:{settings.ports.alert_webhook}{WEBHOOK_PATH}"
    config = {
        "route": {
            "receiver": "waqiti-drill",
            "group_by": ["..."],
            "group_wait": duration(m.group_wait),
            "group_interval": duration(m.group_interval),
            "repeat_interval": duration(m.repeat_interval),
        },
        "receivers": [{"name": "waqiti-drill", "webhook_configs": [{"url": url, "send_resolved": True,
                                                                    "max_alerts": 0}]}],
    }
    return yaml.safe_dump(config, sort_keys=False)


# The exporter's own queries (--extend.query-path), beside its defaults (pg_up, pg_settings_*,
# pg_stat_archiver_*, ...). Each top-level key prefixes its metrics: waqiti_pg_replication_lag_seconds.
PG_QUERIES: dict[str, dict] = {
    "waqiti_pg_replication": {
        # Seconds behind the primary as a replica sees it: how old the last replayed commit is, but only
        # while WAL is waiting to be replayed (an idle primary sends nothing, and its replica is not behind).
        "query": (
            "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0"
            " WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0"
            " ELSE COALESCE(GREATEST(0, EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())), 0)"
            " END::float8 AS lag_seconds,"
            " COALESCE(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::float8"
            " AS replay_lag_bytes,"
            " CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END AS in_recovery,"
            " CASE WHEN pg_is_in_recovery() AND pg_is_wal_replay_paused() THEN 1 ELSE 0 END AS replay_paused"
        ),
        "metrics": [
            {"lag_seconds": {"usage": "GAUGE", "description": "Age of the last replayed commit while WAL "
                                                               "waits to be replayed (0 on the primary)"}},
            {"replay_lag_bytes": {"usage": "GAUGE", "description": "WAL received but not yet replayed"}},
            {"in_recovery": {"usage": "GAUGE", "description": "1 on a replica, 0 on the primary"}},
            {"replay_paused": {"usage": "GAUGE", "description": "1 while WAL replay is paused"}},
        ],
    },
    "waqiti_pg_connections": {
        "query": (
            "SELECT count(*) FILTER (WHERE backend_type = 'client backend')::float8 AS client_backends,"
            " (current_setting('max_connections')::int"
            " - current_setting('superuser_reserved_connections')::int)::float8 AS available"
            " FROM pg_stat_activity"
        ),
        "metrics": [
            {"client_backends": {"usage": "GAUGE", "description": "Client connections open now"}},
            {"available": {"usage": "GAUGE", "description": "Connections open to non-superusers: "
                                                            "max_connections - superuser_reserved_connections"}},
        ],
    },
    "waqiti_pg_archiver": {
        # pg_stat_archiver says when the last push failed; the archive status directory says how long
        # the oldest segment has waited (a push that hangs, e.g. on an unreachable store, never fails).
        "query": (
            "SELECT COALESCE(EXTRACT(EPOCH FROM a.last_archived_time), 0)::float8 AS last_archived_time,"
            " COALESCE(EXTRACT(EPOCH FROM a.last_failed_time), 0)::float8 AS last_failed_time,"
            " COALESCE((SELECT EXTRACT(EPOCH FROM now() - min(s.modification))"
            " FROM pg_ls_archive_statusdir() s WHERE s.name LIKE '%.ready'), 0)::float8 AS oldest_ready_seconds,"
            " (SELECT count(*) FROM pg_ls_archive_statusdir() s WHERE s.name LIKE '%.ready')::float8"
            " AS ready_segments"
            " FROM pg_stat_archiver a"
        ),
        "metrics": [
            {"last_archived_time": {"usage": "GAUGE", "description": "Last successful archive (epoch s)"}},
            {"last_failed_time": {"usage": "GAUGE", "description": "Last failed archive attempt (epoch s)"}},
            {"oldest_ready_seconds": {"usage": "GAUGE", "description": "How long the oldest segment has "
                                                                       "waited to be archived"}},
            {"ready_segments": {"usage": "GAUGE", "description": "Segments waiting to be archived"}},
        ],
    },
}


def render_pg_queries() -> str:
    return yaml.safe_dump(PG_QUERIES, sort_keys=False, width=1000)
