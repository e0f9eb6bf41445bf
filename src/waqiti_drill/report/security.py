"""The evidence's security section: every security control of the spec, how this run checked it, the result.

A control no scenario of the run checked is listed as not checked (never left out, never a pass). A control
checked several times (e.g. at rest: the policy, the raw scan, the control file) lists each check; it is met
when every check of it passed.
"""

from __future__ import annotations

from typing import Any

from waqiti_drill.results import ScenarioResult
from waqiti_drill.security.controls import CONTROLS


def security_section(results: list[ScenarioResult]) -> dict[str, Any]:
    rows = []
    for control in CONTROLS:
        checks = [{"scenario": r.scenario, "status": r.status, "how": c.how, "passed": c.passed,
                   "findings": c.findings}
                  for r in results for c in r.controls if c.control == control.control]
        verdict = "not checked" if not checks else ("met" if all(c["passed"] for c in checks) else "NOT MET")
        rows.append({"control": control.control, "pci_dss": list(control.pci_dss), "soc2": list(control.soc2),
                     "verdict": verdict, "checks": checks})
    checked = [r for r in rows if r["verdict"] != "not checked"]
    return {"controls": rows, "checked": len(checked), "met": sum(r["verdict"] == "met" for r in checked)}
