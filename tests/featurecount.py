"""How many scenarios of the repository's features carry a tag, counted by the Gherkin parser itself.

Independent of the harness's own selection (pytest-bdd collection, `drill run --plan`), so a test that
compares the two can catch a selection bug, and adding a scenario to @nightly does not break a test that
hard-codes the old count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gherkin.parser import Parser

FEATURES = Path(__file__).resolve().parent.parent / "features"


def _names(tags: list[dict[str, Any]]) -> set[str]:
    return {t["name"].lstrip("@") for t in tags}


def _count(children: list[dict[str, Any]], inherited: set[str], tag: str) -> int:
    total = 0
    for child in children:
        if "rule" in child:
            rule = child["rule"]
            total += _count(rule["children"], inherited | _names(rule.get("tags", [])), tag)
            continue
        scenario = child.get("scenario")
        if scenario is None:
            continue
        tags = inherited | _names(scenario["tags"])
        if not scenario["examples"]:
            total += tag in tags
            continue
        for examples in scenario["examples"]:
            if tag in tags | _names(examples["tags"]):
                total += len(examples["tableBody"])
    return total


def scenarios_tagged(tag: str, features: Path = FEATURES) -> int:
    total = 0
    for path in sorted(features.glob("*.feature")):
        feature = Parser().parse(path.read_text())["feature"]
        total += _count(feature["children"], _names(feature["tags"]), tag)
    return total
