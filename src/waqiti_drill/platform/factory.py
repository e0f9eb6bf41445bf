"""Opening the Platform a set of settings describes (only `local` exists today; Kubernetes comes next)."""

from __future__ import annotations

from waqiti_drill.config import Settings
from waqiti_drill.platform.base import Platform


def open_platform(settings: Settings) -> Platform:
    from waqiti_drill.platform.local.stack import LocalPlatform  # imported lazily: `drill --help` stays fast

    return LocalPlatform(settings)
