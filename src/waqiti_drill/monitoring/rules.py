"""The repository's alert rules (monitoring/alerts.rules.yml) read as data, and checked before anything runs.

A file that is not YAML, not in Prometheus's rule format, or whose PromQL promtool rejects is one
InvalidConfig line naming the file (and line, where there is one), raised before a stack starts or a
drill runs. Each alert's `for` is what its detection budget is built from.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from waqiti_drill.errors import InvalidConfig, MissingBinary

_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


@dataclass(frozen=True)
class AlertRule:
    name: str
    group: str
    expr: str
    for_seconds: float
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    line: int = 0  # 1-based line of the rule in the file

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")


def parse_duration(text: str) -> float:
    """A Prometheus duration ("1m", "90s", "1m30s", "500ms", "0s") in seconds; ValueError otherwise."""
    match = _DURATION.match(text.strip()) if text.strip() else None
    if not match or not any(match.groups()):
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(g) * unit for g, unit in zip(match.groups(), _UNITS, strict=True) if g)


def load_rules(path: Path) -> list[AlertRule]:
    """Every alerting rule in the file (recording rules are skipped); InvalidConfig naming file:line."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidConfig(f"{path}: cannot read the alert rules: {exc.strerror or exc}") from None
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise InvalidConfig(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(root, yaml.MappingNode):
        raise InvalidConfig(f"{path}: not a Prometheus rules file (expected a mapping with 'groups')")
    groups = _child(root, "groups")
    if not isinstance(groups, yaml.SequenceNode):
        raise InvalidConfig(f"{path}:{root.start_mark.line + 1}: not a Prometheus rules file (no 'groups' list)")
    out: list[AlertRule] = []
    for group in groups.value:
        out += _group_rules(path, group)
    names = [r.name for r in out]
    for rule in out:
        if names.count(rule.name) > 1:
            raise InvalidConfig(f"{path}:{rule.line}: alert {rule.name} is defined more than once")
    return out


def _child(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if getattr(k, "value", None) == key:
                return v
    return None


def _scalar(node: yaml.Node | None) -> str | None:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else None


def _group_rules(path: Path, group: yaml.Node) -> list[AlertRule]:
    line = group.start_mark.line + 1
    name = _scalar(_child(group, "name"))
    rules = _child(group, "rules")
    if not name or not isinstance(rules, yaml.SequenceNode):
        raise InvalidConfig(f"{path}:{line}: a rule group needs a 'name' and a 'rules' list")
    out = []
    for node in rules.value:
        alert = _scalar(_child(node, "alert"))
        if alert is None:
            continue  # a recording rule
        out.append(_alert(path, name, alert, node))
    return out


def _alert(path: Path, group: str, alert: str, node: yaml.Node) -> AlertRule:
    line = node.start_mark.line + 1
    expr = _scalar(_child(node, "expr"))
    if not expr:
        raise InvalidConfig(f"{path}:{line}: alert {alert} has no 'expr'")
    raw_for = _scalar(_child(node, "for")) or "0s"
    try:
        for_seconds = parse_duration(raw_for)
    except ValueError as exc:
        raise InvalidConfig(f"{path}:{line}: alert {alert}: {exc}") from None
    data = yaml.safe_load(yaml.serialize(node)) or {}
    labels = {str(k): str(v) for k, v in (data.get("labels") or {}).items()}
    annotations = {str(k): str(v) for k, v in (data.get("annotations") or {}).items()}
    return AlertRule(alert, group, expr.strip(), for_seconds, labels, annotations, line)


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        raise MissingBinary("'promtool' not found: install the Debian package prometheus")
    return found


def check_rules(path: Path) -> list[AlertRule]:
    """The rules as promtool (Prometheus's own parser) and load_rules read them; one line on any error."""
    rules = load_rules(path)
    proc = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise InvalidConfig(f"{path}: promtool rejects the rules: {_first_problem(proc.stdout + proc.stderr)}")
    return rules


def _first_problem(output: str) -> str:
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith(("FAILED", "Checking")) or ln.startswith("SUCCESS"):
            continue
        return ln[:300]
    return lines[-1][:300] if lines else "(no output)"


def rules_by_name(rules: list[AlertRule]) -> dict[str, AlertRule]:
    return {r.name: r for r in rules}
