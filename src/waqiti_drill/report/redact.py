"""The secrets scanner: which file, on which line, holds a known secret.

Signing a run vouches for everything in it, so `drill report` scans the whole run directory for every
secret it knows (the stack's secrets.json when reachable, and any DRILL_* variable set) before it
signs, and refuses on a hit. Hits name the secret by its field, never by its value: the scanner's own
output must not become the leak. Files are scanned as bytes (histories, PNGs, HTML alike), for the
plain value and its common encodings in reports (URL-encoded, JSON-escaped).
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from waqiti_drill.secrets import ENV_NAMES


@dataclass(frozen=True)
class Hit:
    path: Path
    line: int
    secret: str  # the secret's name (e.g. postgres_password), never its value

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: contains the secret {self.secret}"


def known_secrets(state_dir: Path | None) -> tuple[dict[str, str], str]:
    """Secrets by name from <state>/secrets.json (when readable) and the DRILL_* variables set, and a
    sentence saying where they came from (the report states what was scanned for)."""
    found: dict[str, str] = {}
    sources = []
    path = state_dir / "secrets.json" if state_dir else None
    if path is not None and path.is_file():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):
            stored = {}
        if isinstance(stored, dict):
            found.update({str(k): str(v) for k, v in stored.items() if isinstance(v, str) and v})
            sources.append(f"{len(found)} from {path}")
    env = {name: os.environ[var] for name, var in ENV_NAMES.items() if var and os.environ.get(var)}
    for name, value in env.items():
        if found.get(name) != value:
            found[f"{name} (env)" if name in found else name] = value
    if env:
        sources.append(f"{len(env)} DRILL_* variable(s)")
    return found, (", ".join(sources) or "none known (no secrets.json reachable, no DRILL_* variable set)")


def _forms(value: str) -> set[bytes]:
    forms = {value, urllib.parse.quote(value, safe=""), json.dumps(value)[1:-1]}
    return {f.encode() for f in forms if f}


def scan_file(path: Path, secrets: dict[str, str]) -> list[Hit]:
    data = path.read_bytes()
    hits = []
    for name, value in secrets.items():
        for form in _forms(value):
            start = data.find(form)
            while start != -1:
                hits.append(Hit(path=path, line=data.count(b"\n", 0, start) + 1, secret=name))
                start = data.find(form, start + 1)
    return sorted(set(hits), key=lambda h: (str(h.path), h.line, h.secret))


def scan_paths(paths: Iterable[Path], secrets: dict[str, str]) -> list[Hit]:
    """Every hit in every file under the given files or directories (symlinks are not followed)."""
    hits: list[Hit] = []
    if not secrets:
        return hits
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        for path in files:
            hits.extend(scan_file(path, secrets))
    return hits
