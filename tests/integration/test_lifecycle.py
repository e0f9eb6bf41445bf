"""`drill up` / `drill status` as a user runs them; secrets never leak into argv or output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_up_prints_the_endpoints(stack):
    out = stack.up_output
    assert "waqiti-postgres-primary (rw)" in out and "waqiti-postgres-replica (ro)" in out
    assert "redis-cluster" in out and "s3: https://localhost:" in out


def test_up_again_is_idempotent(stack):
    before = {n: stack.platform().supervisor.pid_of(n) for n in stack.platform().supervisor.names()}
    result = stack.drill("up")
    assert result.returncode == 0, result.stderr
    after = {n: stack.platform().supervisor.pid_of(n) for n in stack.platform().supervisor.names()}
    assert before == after  # nothing restarted


def test_status_json_has_the_documented_shape(stack):
    result = stack.drill("status", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    members = status["postgres"]["members"]
    assert len(members) == 3
    for m in members:
        assert set(m) >= {"name", "role", "state", "timeline", "lag_bytes"}
        assert m["role"] in ("primary", "sync_standby", "replica")
    assert "password" not in status["postgres"]["rw_dsn"] and "sslmode=verify-full" in status["postgres"]["rw_dsn"]
    assert "port=" in status["postgres"]["ro_dsn"]
    assert len(status["redis"]["nodes"]) == 6 and status["redis"]["cluster_state"] == "ok"
    for n in status["redis"]["nodes"]:
        assert set(n) >= {"address", "role", "slots"} and n["role"] in ("master", "replica")
    assert status["s3"]["bucket"] == "waqiti-postgres-backups"
    assert Path(status["s3"]["ca_file"]).exists() and status["s3"]["endpoint"].startswith("https://")
    assert isinstance(status["backups"], list)


def test_no_secret_in_any_argv_or_output(stack):
    secrets = stack.platform().context().secrets.values()
    texts = [stack.up_output, stack.drill("status", "--json").stdout, stack.drill("status").stdout]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                texts.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
    for log in (stack.state_dir / "logs").rglob("*.log"):
        texts.append(log.read_text(errors="replace"))
    for text in texts:
        for secret in secrets:
            assert secret not in text
