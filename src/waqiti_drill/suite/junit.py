"""<run>/junit.xml, as CI dashboards read it: one testcase per scenario, named by its feature and scenario
(and, for `drill chaos`, one testcase: the experiment).

pytest writes the file (--junitxml); its classnames come from the test module's path relative to a rootdir
that may be `/` (a feature outside the checkout widens it), e.g. "work.wt.steps.test_drills", and its
names are pytest-bdd's generated function names. The progress plugin records each scenario's feature and
name as testcase properties; this rewrites classname and name from them, keeping everything else.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path


def tidy(path: Path) -> int:
    """Rename the testcases of `path` in place; returns how many were renamed (0 without the file)."""
    if not path.is_file():
        return 0
    try:
        tree = ET.parse(path)
    except ET.ParseError:
        return 0  # left as pytest wrote it: CI will say what is wrong with it
    renamed = 0
    for case in tree.iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        if props.get("feature") and props.get("scenario"):
            case.set("classname", str(props["feature"]))
            case.set("name", str(props["scenario"]))
            renamed += 1
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return renamed


def write_one(path: Path, suite: str, classname: str, name: str, seconds: float, failure: str | None) -> Path:
    """A JUnit XML file of one testcase (`drill chaos`: the experiment), failed with `failure` when given."""
    suites = ET.Element("testsuites")
    ts = ET.SubElement(suites, "testsuite", name=suite, tests="1", failures="1" if failure else "0", errors="0",
                       skipped="0", time=f"{seconds:.3f}")
    case = ET.SubElement(ts, "testcase", classname=classname, name=name, time=f"{seconds:.3f}")
    if failure:
        ET.SubElement(case, "failure", message=failure).text = failure
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
    return path
