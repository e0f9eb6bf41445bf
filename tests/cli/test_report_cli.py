"""`drill report` and `drill evidence verify` as a user runs them: tampering named file by file, a planted
secret refused, and bad input as one line with no traceback."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.rundirs import make_run

DRILL = [sys.executable, "-m", "waqiti_drill.cli"]


def drill(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DRILL, *args], capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture
def env(tmp_path):
    """No stack here: an empty state directory, and the signing key in the test's own directory."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DRILL_")}
    return dict(clean, DRILL_STATE_DIR=str(tmp_path / "state"), DRILL_SIGNING_KEY=str(tmp_path / "key.pem"),
                DRILL_ALLURE="")  # the Allure HTML is tested in tests/unit/test_report.py


@pytest.fixture
def signed(tmp_path, env):
    run_dir = make_run(tmp_path / "reports")
    done = drill("report", run_dir.name, "--reports-dir", str(tmp_path / "reports"), env=env)
    assert done.returncode == 0, done.stderr
    assert "signed:" in done.stdout
    return run_dir


def verify(run_dir: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return drill("evidence", "verify", str(run_dir), *extra, env=env)


def test_an_intact_run_verifies(signed, env):
    done = verify(signed, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "intact:" in done.stdout and "signature good" in done.stdout


def test_the_manifest_covers_raw_data_and_evidence_but_not_itself(signed):
    files = json.loads((signed / "evidence" / "MANIFEST.json").read_text())["files"]
    for rel in ("results.json", "run.json", "scenarios/primary_freeze/history/w1.jsonl",
                "scenarios/primary_freeze/history/faults.jsonl", "scenarios/primary_freeze/journal.json",
                "evidence/report.html", "evidence/report.json", "evidence/signing_key.pub.pem"):
        assert rel in files, rel
    assert "evidence/MANIFEST.json" not in files and "evidence/MANIFEST.sig" not in files
    assert not any(f.startswith("allure-report/") for f in files)


def test_a_one_byte_change_is_named(signed, env):
    path = signed / "scenarios" / "primary_freeze" / "history" / "w1.jsonl"
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))
    done = verify(signed, env)
    assert done.returncode == 12
    assert "changed: scenarios/primary_freeze/history/w1.jsonl" in done.stdout
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_missing_and_added_files_are_each_named(signed, env):
    (signed / "scenarios" / "primary_freeze" / "journal.json").unlink()
    (signed / "evidence" / "plots" / "primary_freeze-roles.png").unlink()
    (signed / "scenarios" / "primary_freeze" / "extra.txt").write_text("slipped in later")
    done = verify(signed, env)
    assert done.returncode == 12
    lines = done.stdout.splitlines()
    assert "missing: scenarios/primary_freeze/journal.json" in lines
    assert "missing: evidence/plots/primary_freeze-roles.png" in lines
    assert "added: scenarios/primary_freeze/extra.txt" in lines
    assert "changed:" not in done.stdout


def test_a_tampered_signature_is_refused(signed, env):
    sig = base64.b64decode((signed / "evidence" / "MANIFEST.sig").read_bytes())
    (signed / "evidence" / "MANIFEST.sig").write_bytes(base64.b64encode(bytes([sig[0] ^ 1]) + sig[1:]) + b"\n")
    done = verify(signed, env)
    assert done.returncode == 12
    assert "bad signature: evidence/MANIFEST.sig does not match evidence/MANIFEST.json" in done.stdout


def test_an_edited_manifest_fails_the_signature(signed, env):
    """Changing a file and its hash in the manifest together is caught by the signature."""
    manifest = signed / "evidence" / "MANIFEST.json"
    doc = json.loads(manifest.read_text())
    (signed / "results.json").write_text("[]\n")
    import hashlib

    doc["files"]["results.json"] = hashlib.sha256(b"[]\n").hexdigest()
    manifest.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    done = verify(signed, env)
    assert done.returncode == 12 and "bad signature" in done.stdout and "changed:" not in done.stdout


def test_a_run_resigned_with_another_key_fails_against_the_pinned_key(signed, env, tmp_path):
    pinned = tmp_path / "pinned.pub.pem"
    pinned.write_bytes((signed / "evidence" / "signing_key.pub.pem").read_bytes())
    other = dict(env, DRILL_SIGNING_KEY=str(tmp_path / "other-key.pem"))
    assert drill("report", str(signed), env=other).returncode == 0
    assert verify(signed, env).returncode == 0, "self-consistent with the key it ships"
    done = verify(signed, env, "--public-key", str(pinned))
    assert done.returncode == 12 and "bad signature" in done.stdout


def test_a_planted_secret_is_found_and_nothing_is_signed(tmp_path, env):
    run_dir = make_run(tmp_path / "reports")
    secret = "Plant3d-Passw0rd-for-the-scan"
    stats = run_dir / "scenarios" / "primary_freeze" / "locust_stats.csv"
    stats.write_text(stats.read_text() + f"error,connect failed: password={secret}\n")
    done = drill("report", str(run_dir), env=dict(env, DRILL_POSTGRES_PASSWORD=secret))
    assert done.returncode == 13, done.stdout + done.stderr
    assert f"{stats}:3: contains the secret postgres_password" in done.stderr
    assert secret not in done.stderr + done.stdout, "the scanner must not print the value it found"
    assert not (run_dir / "evidence" / "MANIFEST.json").exists()
    assert verify(run_dir, env).returncode == 2


def test_unknown_run_id_missing_dir_and_corrupt_results_are_one_line_errors(tmp_path, env):
    reports = tmp_path / "reports"
    reports.mkdir()
    unknown = drill("report", "20990101T000000Z-dead", "--reports-dir", str(reports), env=env)
    assert unknown.returncode == 2 and "unknown run id" in unknown.stderr
    empty = reports / "empty"
    empty.mkdir()
    missing = drill("report", str(empty), env=env)
    assert missing.returncode == 2 and f"{empty}/results.json: no such file" in missing.stderr
    run_dir = make_run(reports)
    (run_dir / "results.json").write_text('[\n  {"feature": "x",\n  oops\n]\n')
    corrupt = drill("report", str(run_dir), env=env)
    assert corrupt.returncode == 2 and f"{run_dir}/results.json:3: not valid JSON" in corrupt.stderr
    no_dir = drill("evidence", "verify", str(tmp_path / "nowhere"), env=env)
    assert no_dir.returncode == 2
    other = make_run(reports, run_id="no-manifest")
    (other / "run.json").unlink()
    no_manifest = drill("report", str(other), env=env)
    assert no_manifest.returncode == 2 and f"{other}/run.json: no such file" in no_manifest.stderr
    unsigned = drill("evidence", "verify", str(other), env=env)
    assert unsigned.returncode == 2 and "MANIFEST.json: no such file" in unsigned.stderr
    for done in (unknown, missing, corrupt, no_dir, no_manifest, unsigned):
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr


def test_a_corrupt_history_line_is_named(tmp_path, env):
    run_dir = make_run(tmp_path / "reports")
    history = run_dir / "scenarios" / "primary_freeze" / "history" / "w1.jsonl"
    history.write_text(history.read_text() + "{not json\n")
    done = drill("report", str(run_dir), env=env)
    assert done.returncode == 9 and f"{history}:" in done.stderr and "not valid JSON" in done.stderr
    assert done.stderr.count("\n") == 1


def test_a_bad_roles_line_is_named(tmp_path, env):
    run_dir = make_run(tmp_path / "reports")
    roles = run_dir / "scenarios" / "primary_freeze" / "roles.jsonl"
    roles.write_text(roles.read_text() + '{"wall": "later"}\n')
    done = drill("report", str(run_dir), env=env)
    assert done.returncode == 2 and f"{roles}:31: expected" in done.stderr


def test_trend_prints_a_table(tmp_path, env):
    make_run(tmp_path / "reports")
    done = drill("report", "--trend", "--reports-dir", str(tmp_path / "reports"), env=env)
    assert done.returncode == 0, done.stderr
    assert "primary_freeze" in done.stdout and (tmp_path / "reports" / "trend.png").is_file()
    assert (tmp_path / "reports" / "trend.html").is_file()


def test_a_check_json_that_is_not_a_checker_result_is_named(tmp_path, env):
    run_dir = make_run(tmp_path / "reports")
    check = run_dir / "scenarios" / "primary_freeze" / "check.json"
    good = json.loads(check.read_text())
    check.write_text(json.dumps({**good, "services": 3}) + "\n")
    done = drill("report", str(run_dir), env=env)
    assert done.returncode == 2 and f"{check}.services: expected an object, got int" in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    check.write_text('{"services": {}}\n')
    done = drill("report", str(run_dir), env=env)
    assert done.returncode == 2 and f"{check}: missing field(s) history, files" in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_a_path_in_results_that_leaves_the_run_directory_is_refused(tmp_path, env):
    run_dir = make_run(tmp_path / "reports")
    results = json.loads((run_dir / "results.json").read_text())
    results[0]["paths"]["history"] = "../../../etc"
    (run_dir / "results.json").write_text(json.dumps(results))
    done = drill("report", str(run_dir), env=env)
    assert done.returncode == 2 and "leaves the run directory" in done.stderr
