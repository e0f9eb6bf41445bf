"""The secrets scanner on files with known content: it finds what is there (so the scans that rely on it
can fail), names file, line and secret name, and never prints the value."""

from __future__ import annotations

import json
import urllib.parse

from waqiti_drill.report.redact import known_secrets, scan_paths

SECRET = "s3cr3t/with+chars&more"


def test_plain_url_encoded_and_json_escaped_forms_are_found_with_their_lines(tmp_path):
    (tmp_path / "a.log").write_text(f"ok\nok\npassword={SECRET}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("dsn=postgresql://u:" + urllib.parse.quote(SECRET, safe="") + "@h/db\n")
    (tmp_path / "c.json").write_text(json.dumps({"x": "quote\"" + "p\"w"}) + "\n")
    hits = scan_paths([tmp_path], {"postgres_password": SECRET, "other": 'p"w'})
    assert [(h.path.name, h.line, h.secret) for h in hits] == [("a.log", 3, "postgres_password"),
                                                               ("c.json", 1, "other"),
                                                               ("b.txt", 1, "postgres_password")]
    assert all(SECRET not in str(h) for h in hits)


def test_binary_files_are_scanned_and_a_clean_tree_has_no_hit(tmp_path):
    (tmp_path / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n" + SECRET.encode() + b"\x00\xff")
    assert [h.path.name for h in scan_paths([tmp_path], {"k": SECRET})] == ["plot.png"]
    (tmp_path / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    assert scan_paths([tmp_path], {"k": SECRET}) == []


def test_known_secrets_come_from_secrets_json_and_drill_variables(tmp_path, monkeypatch):
    for var in ("DRILL_POSTGRES_PASSWORD", "DRILL_REDIS_PASSWORD", "DRILL_S3_ACCESS_KEY", "DRILL_S3_SECRET_KEY",
                "DRILL_BACKUP_CIPHER_PASS"):
        monkeypatch.delenv(var, raising=False)
    none, source = known_secrets(tmp_path / "nowhere")
    assert none == {} and "none known" in source
    (tmp_path / "secrets.json").write_text(json.dumps({"postgres_password": "from-file", "redis_password": "r"}))
    monkeypatch.setenv("DRILL_REDIS_PASSWORD", "r")
    monkeypatch.setenv("DRILL_S3_SECRET_KEY", "from-env")
    found, source = known_secrets(tmp_path)
    assert found == {"postgres_password": "from-file", "redis_password": "r", "s3_secret_key": "from-env"}
    assert "2 from" in source and "2 DRILL_* variable(s)" in source
