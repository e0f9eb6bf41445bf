"""Monitoring's configuration files rendered from the settings, checked by the tools' own checkers."""

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from waqiti_drill.config import DEFAULT_RULES_FILE, MonitoringSettings, Ports, Settings, load_settings
from waqiti_drill.errors import InvalidConfig
from waqiti_drill.platform.local.monitoring.backups import BackupOutcome, exposition
from waqiti_drill.platform.local.monitoring.render import (
    PG_QUERIES,
    duration,
    render_alertmanager,
    render_pg_queries,
    render_prometheus,
)
from waqiti_drill.platform.local.monitoring.targets import scrape_targets


def settings(**monitoring: object) -> Settings:
    return Settings(state_dir=Path("/var/lib/wd"), monitoring=MonitoringSettings(**monitoring))  # type: ignore[arg-type]


def test_durations_are_whole_milliseconds():
    assert duration(5) == "5s" and duration(0.5) == "500ms" and duration(1.25) == "1250ms" and duration(0) == "0s"


def test_every_exporter_is_a_target_with_what_it_watches():
    config = yaml.safe_load(render_prometheus(settings()))
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert set(jobs) == {"postgres", "redis", "node", "pushgateway", "logwatch", "prometheus", "alertmanager",
                         "alert_webhook"}
    pg = jobs["postgres"]["static_configs"]
    assert [(s["targets"], s["labels"]) for s in pg] == [
        (["127.0.0.1:25711"], {"member": "pg1"}), (["127.0.0.1:25712"], {"member": "pg2"}),
        (["127.0.0.1:25713"], {"member": "pg3"})]
    redis = [(s["targets"][0], s["labels"]) for s in jobs["redis"]["static_configs"]]
    assert redis[0] == ("127.0.0.1:25721", {"node": "127.0.0.1:25501"})
    assert redis[-1] == ("127.0.0.1:25728", {"node": "127.0.0.1:25508", "spare": "true"})
    assert sum(1 for _, labels in redis if labels.get("spare")) == 2 and len(redis) == 8
    assert jobs["pushgateway"]["honor_labels"] is True
    assert all(t.startswith("127.0.0.1:") for j in jobs.values() for s in j["static_configs"] for t in s["targets"])


def test_only_the_members_filesystems_are_kept_and_named():
    relabel = yaml.safe_load(render_prometheus(settings()))["scrape_configs"]
    node = next(j for j in relabel if j["job_name"] == "node")["metric_relabel_configs"]
    assert node[0] == {"source_labels": ["__name__"], "regex": "node_filesystem_.*", "action": "keep"}
    assert node[1]["action"] == "keep" and "/var/lib/wd/pg/pg1" in node[1]["regex"]
    named = {r["replacement"]: r["regex"] for r in node[2:]}
    assert named == {"pg1": "/var/lib/wd/pg/pg1", "pg2": "/var/lib/wd/pg/pg2", "pg3": "/var/lib/wd/pg/pg3"}


def test_intervals_come_from_the_settings():
    config = yaml.safe_load(render_prometheus(settings(scrape_interval=2, evaluation_interval=3)))
    assert config["global"]["scrape_interval"] == "2s" and config["global"]["evaluation_interval"] == "3s"
    assert config["global"]["scrape_timeout"] == "1600ms"  # a scrape ends before the next starts
    am = yaml.safe_load(render_alertmanager(settings(group_wait=0.5, group_interval=4)))
    assert am["route"]["group_wait"] == "500ms" and am["route"]["group_interval"] == "4s"
    assert am["route"]["group_by"] == ["..."]  # each alert its own group: group_wait applies to every one
    hook = am["receivers"][0]["webhook_configs"][0]
    assert hook["url"] == "http://127.0.0.1:25703/alertmanager" and hook["send_resolved"] is True


def test_promtool_accepts_the_rendered_prometheus_config(tmp_path: Path):
    (tmp_path / "prometheus.yml").write_text(render_prometheus(settings()))
    shutil.copy(DEFAULT_RULES_FILE, tmp_path / "alerts.rules.yml")
    proc = subprocess.run(["promtool", "check", "config", "prometheus.yml"], cwd=tmp_path, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_amtool_accepts_the_rendered_alertmanager_config(tmp_path: Path):
    path = tmp_path / "alertmanager.yml"
    path.write_text(render_alertmanager(settings()))
    proc = subprocess.run(["amtool", "check-config", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_exporter_queries_are_the_exporter_format():
    queries = yaml.safe_load(render_pg_queries())
    assert queries == PG_QUERIES
    for name, spec in queries.items():
        assert name.startswith("waqiti_pg_") and "SELECT" in spec["query"]
        assert all(len(m) == 1 and next(iter(m.values()))["usage"] == "GAUGE" for m in spec["metrics"])


def test_monitoring_ports_are_in_the_reserved_span_and_distinct():
    ports = Ports().all()
    mine = {k: v for k, v in ports.items() if k.split("[")[0] in (
        "prometheus", "alertmanager", "pushgateway", "alert_webhook", "logwatch", "postgres_exporter",
        "redis_exporter", "node_exporter")}
    assert len(mine) == 17 and all(25700 <= p <= 25729 for p in mine.values())
    assert len(set(ports.values())) == len(ports)
    assert len(scrape_targets(Settings(state_dir=Path("/x")))) == 17


def test_the_monitoring_section_of_the_config_file(tmp_path: Path):
    rules = tmp_path / "my.rules.yml"
    config = tmp_path / "drill.toml"
    config.write_text('[monitoring]\nscrape_interval = 2\ngroup_wait = 0\nenabled = false\n'
                      'rules_file = "my.rules.yml"\n')
    m = load_settings(str(tmp_path / "state"), str(config)).monitoring
    assert (m.scrape_interval, m.group_wait, m.enabled) == (2.0, 0.0, False)
    assert m.rules_path == rules  # relative to the config file
    assert load_settings(str(tmp_path / "state")).monitoring.rules_path == DEFAULT_RULES_FILE


@pytest.mark.parametrize(("line", "message"), [
    ("scrape_interval = 0", "'scrape_interval' must be a number of seconds from 1 to 300"),
    ("evaluation_interval = 'fast'", "'evaluation_interval' must be a number of seconds"),
    ("group_wait = true", "'group_wait' must be a number of seconds"),
    ("enabled = 1", "'enabled' must be true or false"),
    ("rules_file = ''", "'rules_file' must be a path"),
    ("scrape = 5", "unknown key 'scrape' in [monitoring]"),
])
def test_bad_monitoring_settings_are_one_line(tmp_path: Path, line: str, message: str):
    config = tmp_path / "drill.toml"
    config.write_text(f"[monitoring]\n{line}\n")
    with pytest.raises(InvalidConfig) as err:
        load_settings(str(tmp_path / "state"), str(config))
    assert message in str(err.value) and str(config) in str(err.value) and "\n" not in str(err.value)


def test_backup_outcome_exposition():
    ok = exposition(BackupOutcome("incr", True, 100.0, 104.5, label="X", repo_size_bytes=42))
    assert 'waqiti_backup_last_success{type="incr"} 1' in ok
    assert 'waqiti_backup_last_duration_seconds{type="incr"} 4.500' in ok
    assert 'waqiti_backup_last_repo_size_bytes{type="incr"} 42' in ok
    failed = exposition(BackupOutcome("full", False, 100.0, 160.0, error="store down"))
    assert 'waqiti_backup_last_success{type="full"} 0' in failed and "repo_size" not in failed
    assert "store down" not in failed  # an error message is no label: the alert says where to look


def test_settings_are_frozen_data():
    assert dataclasses.is_dataclass(MonitoringSettings) and MonitoringSettings().scrape_interval == 5.0
