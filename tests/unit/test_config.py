from pathlib import Path

import pytest

from waqiti_drill.config import Ports, load_settings
from waqiti_drill.errors import InvalidConfig


def test_defaults_need_no_file(tmp_path, monkeypatch):
    monkeypatch.delenv("DRILL_CONFIG", raising=False)
    s = load_settings(state_dir=str(tmp_path / "st"))
    assert s.state_dir == tmp_path / "st"
    assert s.targets.rto_seconds == 900 and s.targets.rpo_seconds == 3600
    assert len(s.ports.postgres) == 3 and len(s.ports.redis) == 6


def test_every_default_port_is_distinct_and_below_ephemeral_range():
    ports = list(Ports().all().values())
    assert len(ports) == len(set(ports))
    assert all(1024 <= p < 32768 for p in ports)


def test_file_overrides_ports_and_targets(tmp_path):
    cfg = tmp_path / "drill.toml"
    cfg.write_text('[ports]\nhaproxy_rw = 26432\npostgres = [26441, 26442, 26443]\n[targets]\nrto_seconds = 60\n')
    s = load_settings(state_dir=str(tmp_path), config_file=str(cfg))
    assert s.ports.haproxy_rw == 26432
    assert s.ports.postgres == (26441, 26442, 26443)
    assert s.targets.rto_seconds == 60.0
    assert s.ports.redis == Ports().redis


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[ports]\nhaproxy_rx = 1\n", "unknown key 'haproxy_rx' in [ports]"),
        ("[ports]\nhaproxy_rw = 80\n", "'haproxy_rw' must be a port number"),
        ("[ports]\npostgres = [1, 2]\n", "'postgres' must be a list of 3 ports"),
        ("[ports]\nhaproxy_rw = 25433\n", "port 25433 is given to both"),
        ("colour = 'red'\n", "unknown setting(s): colour"),
        ("[ports\n", "not valid TOML"),
        ("[targets]\nrpo_seconds = -1\n", "'rpo_seconds' must be a positive number"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path, text, message):
    cfg = tmp_path / "drill.toml"
    cfg.write_text(text)
    with pytest.raises(InvalidConfig) as err:
        load_settings(state_dir=str(tmp_path), config_file=str(cfg))
    assert message in str(err.value)
    assert str(cfg) in str(err.value)


def test_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(InvalidConfig, match="config file not found"):
        load_settings(state_dir=str(tmp_path), config_file=str(Path(tmp_path / "nope.toml")))
