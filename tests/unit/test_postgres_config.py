import base64
import dataclasses
import hashlib
import hmac
from pathlib import Path

import yaml

from waqiti_drill.config import Settings
from waqiti_drill.platform.local.haproxy import render_haproxy_cfg
from waqiti_drill.platform.local.layout import members
from waqiti_drill.platform.local.patroniconf import SPEC_PARAMETERS, render_patroni_config
from waqiti_drill.platform.local.pgroles import scram_verifier
from waqiti_drill.platform.local.tls import tls_files
from waqiti_drill.secrets import Secrets

SECRETS = Secrets(*(f"s3cr3t-{i}" for i in range(len(dataclasses.fields(Secrets)))))


def render(member_index: int = 0) -> dict:
    settings = Settings(state_dir=Path("/var/lib/wd"))
    m = members(settings)[member_index]
    text = render_patroni_config(settings, m, SECRETS, tls_files(settings.state_dir), "archive-cmd %p",
                                 Path("/var/lib/wd/logs/pg1"))
    return yaml.safe_load(text)


def test_spec_parameters_are_cluster_wide_and_exact():
    params = render()["bootstrap"]["dcs"]["postgresql"]["parameters"]
    assert params["max_connections"] == 200
    assert params["shared_buffers"] == "256MB"
    assert params["effective_cache_size"] == "1GB"
    assert params["work_mem"] == "4MB"
    assert params["maintenance_work_mem"] == "64MB"
    assert params["log_min_duration_statement"] == 1000
    assert params["random_page_cost"] == 1.1
    assert params["effective_io_concurrency"] == 200
    assert params["checkpoint_completion_target"] == 0.9
    assert params["wal_buffers"] == "16MB"
    assert set(SPEC_PARAMETERS) <= set(params)


def test_synchronous_strict_failover_and_rewind():
    dcs = render()["bootstrap"]["dcs"]
    assert dcs["synchronous_mode"] is True and dcs["synchronous_mode_strict"] is True
    assert dcs["postgresql"]["use_pg_rewind"] is True
    assert dcs["ttl"] >= 20 and dcs["loop_wait"] + 2 * dcs["retry_timeout"] <= dcs["ttl"]


def test_tls_required_on_every_tcp_entry():
    cfg = render(1)
    hba = cfg["postgresql"]["pg_hba"]
    tcp = [line for line in hba if not line.startswith("local")]
    assert tcp and all(line.startswith("hostssl ") for line in tcp)
    assert all(line.endswith("scram-sha-256") for line in hba)
    params = cfg["postgresql"]["parameters"]
    assert params["ssl"] == "on" and params["ssl_min_protocol_version"] == "TLSv1.2"
    for user in cfg["postgresql"]["authentication"].values():
        assert user["sslmode"] == "verify-full"


def test_member_specific_values():
    cfg = render(2)
    assert cfg["name"] == "pg3"
    assert cfg["postgresql"]["listen"] == "127.0.0.1:25443"
    assert cfg["restapi"]["listen"] == "127.0.0.1:25453"
    assert cfg["postgresql"]["data_dir"] == "/var/lib/wd/pg/pg3/data"
    assert cfg["postgresql"]["parameters"]["archive_command"] == "archive-cmd %p"


def test_haproxy_routes_by_patroni_health_checks():
    settings = Settings(state_dir=Path("/var/lib/wd"))
    cfg = render_haproxy_cfg(settings, members(settings))
    primary, replica = cfg.split("listen waqiti-postgres-primary")[1].split("listen waqiti-postgres-replica")
    assert "bind 127.0.0.1:25432" in primary and "GET /primary" in primary
    assert "bind 127.0.0.1:25433" in replica and "GET /replica" in replica
    for block in (primary, replica):
        assert "server pg1 127.0.0.1:25441 check port 25451" in block
        assert "server pg3 127.0.0.1:25443 check port 25453" in block
    assert "on-marked-down shutdown-sessions" in cfg


def test_scram_verifier_matches_rfc7677_derivation():
    salt = b"0123456789abcdef"
    verifier = scram_verifier("pencil", salt=salt, iterations=4096)
    method, rest = verifier.split("$", 1)
    iter_salt, keys = rest.split("$")
    assert method == "SCRAM-SHA-256" and iter_salt == f"4096:{base64.b64encode(salt).decode()}"
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", salt, 4096)
    stored = hashlib.sha256(hmac.new(salted, b"Client Key", hashlib.sha256).digest()).digest()
    assert keys.split(":")[0] == base64.b64encode(stored).decode()
    assert "pencil" not in verifier
