"""Monitoring on the real stack: every scrape target up, every exporter reaching its server, the rules
loaded as the repository has them, no alert in steady state, and an alert travelling from a real
condition through Prometheus and Alertmanager to the harness's receiver."""

from __future__ import annotations

import json
import os
import time

import pytest

from waqiti_drill.config import DEFAULT_RULES_FILE
from waqiti_drill.monitoring.rules import load_rules
from waqiti_drill.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def values(platform, expr: str) -> dict[str, float]:
    """`expr` now, by the member or node label (or instance)."""
    api = platform._monitoring().prometheus
    out = {}
    for r in api.query(expr):
        key = r["metric"].get("member") or r["metric"].get("node") or r["metric"].get("instance")
        out[key] = float(r["value"][1])
    return out


def test_every_target_is_up_and_every_exporter_reaches_its_server(stack):
    platform = stack.platform()
    status = platform.monitoring_status()
    jobs = sorted({t.job for t in status.targets})
    assert jobs == ["alert_webhook", "alertmanager", "logwatch", "node", "postgres", "prometheus", "pushgateway",
                    "redis"]
    assert len(status.targets) == 17 and all(t.health == "up" for t in status.targets), status.targets
    assert values(platform, "pg_up") == {"pg1": 1, "pg2": 1, "pg3": 1}
    redis = values(platform, "redis_up")
    spares = {f"127.0.0.1:{p}" for p in (max(stack.settings.ports.redis) + 1, max(stack.settings.ports.redis) + 2)}
    six = {f"127.0.0.1:{p}": 1.0 for p in stack.settings.ports.redis}
    assert {k: v for k, v in redis.items() if k not in spares} == six
    assert all(redis[s] == 0 for s in spares)  # the scale-out spares are down in steady state
    assert set(values(platform, "redis_cluster_state").values()) == {1}
    in_recovery = values(platform, "waqiti_pg_replication_in_recovery")
    assert sorted(in_recovery.values()) == [0, 1, 1]
    assert values(platform, "waqiti_pg_connections_available") == {"pg1": 197, "pg2": 197, "pg3": 197}
    if os.geteuid() == 0:  # the members' own filesystems exist only as root
        used = values(platform, '100 * (1 - node_filesystem_avail_bytes / node_filesystem_size_bytes)')
        assert set(used) == {"pg1", "pg2", "pg3"} and all(0 < u < 85 for u in used.values())


def test_prometheus_loaded_the_repository_rules_and_nothing_fires(stack):
    platform = stack.platform()
    groups = platform._monitoring().prometheus.rule_groups()
    loaded = {r["name"]: r for g in groups for r in g["rules"]}
    wanted = {r.name: r for r in load_rules(DEFAULT_RULES_FILE)}
    assert set(loaded) == set(wanted)
    for name, rule in wanted.items():
        assert loaded[name]["duration"] == rule.for_seconds and loaded[name]["health"] == "ok", loaded[name]
    assert [a for a in platform.active_alerts() if a.state == "firing"] == []
    status = json.loads(stack.drill("status", "--json").stdout)["monitoring"]
    assert status["scrape_interval_seconds"] == 5.0 and len(status["rules_sha256"]) == 64


def test_an_alert_travels_to_the_receiver(stack):
    """Failed logins are the quickest real condition (no window): refused logins, counted from the server's
    log, fire PostgresFailedLogins, and Alertmanager notifies the harness's receiver."""
    platform = stack.platform()
    started = time.time()
    assert platform.attempt_failed_logins("pg1", 8) == 8

    def notified() -> tuple[bool, list]:
        got = [n for n in platform.alert_notifications(started) if n.name == "PostgresFailedLogins"]
        return any(n.status == "firing" and n.labels.get("member") == "pg1" for n in got), got

    wait_until(notified, 60, "the receiver to get PostgresFailedLogins for pg1")
    received = time.time() - started
    m = platform.monitoring_status()
    budget = m.scrape_interval_seconds + m.evaluation_interval_seconds + m.group_wait_seconds
    samples = [s for s in platform.alert_samples(started, time.time()) if s.name == "PostgresFailedLogins"]
    assert samples and samples[0].state == "firing" and samples[0].at >= started
    print(f"\nfailed logins: firing {samples[0].at - started:.2f}s, notified {received:.2f}s "
          f"after the first refused login (budget {budget:g}s + the scrape of the log counter)")
    assert received <= budget + 5  # loaded machine: the scrape and Alertmanager's dispatch take their time


def test_each_backup_pushes_its_outcome(stack):
    platform = stack.platform()
    before = time.time()
    info = platform.backup("full", timeout=300)
    api = platform._monitoring().prometheus

    def pushed() -> tuple[bool, list]:
        # This backup's outcome, not an earlier one's still in Prometheus from a previous scrape.
        rows = api.query('waqiti_backup_last_finished_timestamp_seconds{job="waqiti_backup",type="full"}')
        return bool(rows) and float(rows[0]["value"][1]) >= before, rows

    wait_until(pushed, 30, "the full backup's outcome to be scraped from the Pushgateway")
    success = api.query('waqiti_backup_last_success{job="waqiti_backup",type="full"}')
    assert success[0]["value"][1] == "1"
    size = api.query('waqiti_backup_last_repo_size_bytes{job="waqiti_backup",type="full"}')
    assert int(float(size[0]["value"][1])) == info.repo_size_bytes
