"""The scenarios `drill run` runs: the feature files it was given (DRILL_SUITE_FEATURES), else features/."""

import os
from pathlib import Path

from pytest_bdd import scenarios

FEATURES = Path(__file__).resolve().parents[1] / "features"
_given = [p for p in os.environ.get("DRILL_SUITE_FEATURES", "").split(os.pathsep) if p]

scenarios(*(_given or [str(FEATURES)]))
