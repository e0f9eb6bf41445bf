"""The evidence report of a real recorded drill, on a stack of its own created with planted secrets.

A real `drill load` runs while `drill chaos scenarios/primary_freeze.yaml` freezes the primary; `drill check`
measures it; the outputs are laid out as a run directory (glue until `drill run` writes one); `drill report`
builds, scans and signs it. Then every output file and every stack log is scanned for the planted
secrets (zero hits), and the scanner is shown to find a planted secret, so the scan can fail.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets as random
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, check_drawn_page, dump_dom, screenshot
from tests.integration.stackutil import DRILL, StackUnderTest, new_state_dir, shifted_ports_toml
from tests.rundirs import result_from_check
from waqiti_drill.checker import CheckResult
from waqiti_drill.checker.load import HistoryTail
from waqiti_drill.datajson import from_json
from waqiti_drill.report.redact import known_secrets, scan_paths
from waqiti_drill.results import RunManifest, Targets, write_manifest, write_results
from waqiti_drill.timefmt import utc_iso
from waqiti_drill.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PLANTED = {
    "DRILL_POSTGRES_PASSWORD": "pgPLANTED" + random.token_hex(8),
    "DRILL_REDIS_PASSWORD": "redisPLANTED" + random.token_hex(8),
    "DRILL_S3_ACCESS_KEY": "WQPLANTED" + random.token_hex(6).upper(),
    "DRILL_S3_SECRET_KEY": "s3PLANTED" + random.token_hex(12),
    "DRILL_BACKUP_CIPHER_PASS": "cipherPLANTED" + random.token_hex(8),
}


@pytest.fixture(scope="module")
def planted_stack():
    base = new_state_dir("wd-ev-")
    config = base / "drill.toml"
    config.write_text(shifted_ports_toml(2000))  # beside the session stack (+1000), never on it
    env = dict(os.environ, DRILL_STATE_DIR=str(base / "state"), DRILL_CONFIG=str(config), **PLANTED)
    sut = StackUnderTest(env=env, state_dir=base / "state", config=config)
    up = sut.drill("up")
    if up.returncode != 0:
        sut.drill("down", "--purge")
        pytest.fail(f"drill up failed ({up.returncode}): {up.stderr.strip()}")
    yield sut
    down = sut.drill("down", "--purge")
    if down.returncode == 0:
        shutil.rmtree(base, ignore_errors=True)  # only the config file is left after a purge


def _sample_roles(sut: StackUnderTest, path: Path, stop: threading.Event) -> None:
    """roles.jsonl as the suite writes it: each member's role twice a second ("down" when not running)."""
    platform = sut.platform()
    with open(path, "a") as out:
        while not stop.is_set():
            wall = time.time()
            try:
                members = {m.name: (m.role if m.state in ("running", "streaming") else "down")
                           for m in platform.postgres_members()}
            except Exception:  # noqa: BLE001 - a member that does not answer is what a role timeline shows
                members = {name: "unknown" for name in ("pg1", "pg2", "pg3")}
            out.write(json.dumps({"wall": wall, "members": members}) + "\n")
            out.flush()
            stop.wait(0.5)


def _stack_logs(state_dir: Path) -> list[Path]:
    """Every log the stack wrote: the supervisor's per-process logs, PostgreSQL's, pgBackRest's, and any
    other *.log under the state directory."""
    found = []
    for path in state_dir.rglob("*"):
        parts = path.relative_to(state_dir).parts[:-1]
        if path.is_file() and not path.is_symlink() and (path.suffix == ".log" or {"log", "logs"} & set(parts)):
            found.append(path)
    return sorted(found)


def _version(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    found = re.search(r"\d+\.\d+(\.\d+)?", done.stdout + done.stderr)
    return found.group(0) if found else "unknown"


def _components() -> dict[str, str]:
    from importlib.metadata import version

    return {"postgresql": _version("/usr/lib/postgresql/15/bin/postgres", "--version"),
            "redis": _version("redis-server", "--version"), "pgbackrest": _version("pgbackrest", "version"),
            "etcd": _version("etcd", "--version"), "haproxy": _version("haproxy", "-v"),
            "patroni": version("patroni")}


def _record_drill(sut: StackUnderTest, run_dir: Path) -> tuple[Path, list[subprocess.CompletedProcess[str]]]:
    """Load + primary freeze into run_dir/scenarios/primary_freeze; returns it and every command's output."""
    scenario_dir = run_dir / "scenarios" / "primary_freeze"
    scenario_dir.mkdir(parents=True)
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_roles, args=(sut, scenario_dir / "roles.jsonl", stop), daemon=True)
    sampler.start()
    load = subprocess.Popen([*DRILL, "load", "--profile", "steady", "--users", "6", "--duration", "35",
                             "--services", "postgres,redis", "--run-dir", str(scenario_dir)], env=sut.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        tail = HistoryTail(scenario_dir / "history")  # steady load before the fault, as a drill has
        wait_until(lambda: (tail.poll().acked >= 300, tail.counts().acked), 60.0, "300 acknowledged writes")
        chaos = sut.drill("chaos", str(ROOT / "scenarios" / "primary_freeze.yaml"), "--run-dir", str(scenario_dir),
                          timeout=600)
        out, err = load.communicate(timeout=300)
    finally:
        stop.set()
        if load.poll() is None:
            load.kill()
    sampler.join(10)
    assert chaos.returncode == 0, chaos.stdout + chaos.stderr
    assert load.returncode == 0, out + err
    checked = sut.drill("check", str(scenario_dir / "history"), "--json")
    assert checked.returncode in (0, 1), checked.stderr
    return scenario_dir, [chaos, subprocess.CompletedProcess(load.args, load.returncode, out, err), checked]


def _lay_out_run(sut: StackUnderTest, run_dir: Path, scenario_dir: Path, check_json: str, started: float) -> None:
    """results.json and run.json around the recorded scenario, assembled as `drill run` assembles them."""
    checked = from_json(CheckResult, json.loads(check_json), "drill check --json")
    result = result_from_check(run_dir, scenario_dir, checked, feature="failover",
                               scenario="Primary freeze under steady ledger load", tags=["nightly", "primary_freeze"],
                               hypothesis="A 5 s freeze of the primary stalls writes; they resume on the same primary "
                                          "within the RTO and no acknowledged write is lost")
    write_results(run_dir, [result])
    write_manifest(run_dir, RunManifest(
        run_id=run_dir.name, started_at=utc_iso(started), finished_at=utc_iso(time.time()),
        operator=os.environ.get("USER", "ci"), platform="local", command=["drill", "load", "+", "drill", "chaos"],
        tags=None, components=_components(), config_sha256=hashlib.sha256(sut.config.read_bytes()).hexdigest(),
        targets=Targets(900.0, 3600.0)))


def test_a_real_drill_gives_a_signed_report_with_no_secret_in_any_output(planted_stack, tmp_path):
    sut = planted_stack
    run_dir = tmp_path / "reports" / "20261201T000000Z-real"
    started = time.time()
    scenario_dir, outputs = _record_drill(sut, run_dir)
    _lay_out_run(sut, run_dir, scenario_dir, outputs[-1].stdout, started)
    key = tmp_path / "signing_key.pem"
    report = sut.drill("report", str(run_dir), "--key", str(key))
    assert report.returncode == 0, report.stdout + report.stderr
    assert re.search(r"secrets scan: no hit for (\d+) secret", report.stdout)
    assert int(re.search(r"no hit for (\d+)", report.stdout).group(1)) >= 10, "secrets.json was read"
    outputs.append(report)
    print(report.stdout)

    doc = json.loads((run_dir / "evidence" / "report.json").read_text())
    freeze = doc["scenarios"][0]
    print(f"stack logs scanned: {len(_stack_logs(sut.state_dir))} files")
    print(f"evidence of a real drill: RTO {freeze['rto']['measured_seconds']} s, "
          f"{freeze['writes']['acknowledged']} acked, {freeze['writes']['lost']} lost; report.html "
          f"{(run_dir / 'evidence' / 'report.html').stat().st_size} bytes")
    assert 3.0 < freeze["rto"]["measured_seconds"] < 60, "a 5 s freeze is a write outage of about 5 s"
    assert freeze["writes"]["lost"] == 0 and freeze["writes"]["acknowledged"] > 100
    assert set(freeze["plots"]) == {"throughput", "roles"}
    assert doc["scope"]["components"]["postgresql"].startswith("15.")
    assert "Primary freeze under steady ledger load" in (run_dir / "evidence" / "report.html").read_text()
    assert sut.drill("evidence", "verify", str(run_dir)).returncode == 0
    if CHROMIUM is not None:  # the real report renders (the unit test skips only where chromium is absent)
        html = run_dir / "evidence" / "report.html"
        assert "Primary freeze under steady ledger load" in dump_dom(html, tmp_path / "profile-dom")
        # Tall enough for the executive summary, scope, summary and the first scenario's table above its plots.
        check_drawn_page(screenshot(html, tmp_path / "real.png", tmp_path / "profile", 1200, 4000), 1200, 4000)

    secrets, _ = known_secrets(sut.state_dir)
    assert set(PLANTED.values()) <= set(secrets.values()), "the planted values are the stack's secrets"
    logs = _stack_logs(sut.state_dir)
    assert any("postgresql-" in p.name for p in logs) and any(p.parent.name == "logs" for p in logs), logs
    hits = scan_paths([run_dir, *logs], secrets)
    assert hits == [], "\n".join(str(h) for h in hits)
    for done in outputs:
        for value in secrets.values():
            assert value not in done.stdout + done.stderr

    canary = tmp_path / "canary.log"
    canary.write_text("line one\nconnecting with " + PLANTED["DRILL_S3_SECRET_KEY"] + "\n")
    assert [(h.line, h.secret) for h in scan_paths([canary], secrets)] == [(2, "s3_secret_key")]
    leaked = sorted(scenario_dir.glob("locust*.log"))[0]  # a log line that would leak the passphrase
    leaked.write_text(leaked.read_text() + f"repo1-cipher-pass={PLANTED['DRILL_BACKUP_CIPHER_PASS']}\n")
    refused = sut.drill("report", str(run_dir), "--key", str(key))
    assert refused.returncode == 13 and f"{leaked}:" in refused.stderr and "backup_cipher_pass" in refused.stderr
