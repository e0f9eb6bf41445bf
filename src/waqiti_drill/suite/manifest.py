"""The RunManifest's facts: who ran the drill, on what, with which component versions and settings.

Versions are read from the servers where they answer (PostgreSQL, Redis) and from the binaries otherwise;
a component that cannot be read says why ("unknown: ...") rather than being left out or guessed.
"""

from __future__ import annotations

import dataclasses
import getpass
import hashlib
import json
import os

from waqiti_drill.config import Settings
from waqiti_drill.platform.base import Platform


def operator() -> str:
    """$DRILL_OPERATOR, else the login user (the person at the terminal, not the account sudo gave)."""
    if os.environ.get("DRILL_OPERATOR"):
        return os.environ["DRILL_OPERATOR"]
    try:
        return os.getlogin()
    except OSError:
        return getpass.getuser()


def settings_sha256(settings: Settings) -> str:
    """sha256 of the effective settings as canonical JSON. Settings hold no secrets (those live in
    secrets.json and DRILL_* variables), so nothing needs leaving out here; the state directory is kept:
    it says which stack was drilled."""
    data = dataclasses.asdict(settings)
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def component_versions(platform: Platform) -> dict[str, str]:
    return platform.component_versions()
