"""Which alerts each fault kind should raise, and on which instance: the registry's faults (faults/kinds.py)
mapped to the rules of monitoring/alerts.rules.yml. `tests/unit/test_detection.py` walks the registry, so a
new fault kind must say here what should detect it (or why nothing does).

The conditions of a drill come from its own fault records (history/faults.jsonl: each inject, and the
heal that undid it), so every failure drill is measured the same way, whatever its feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from waqiti_drill.checker.load import Fault, load_faults
from waqiti_drill.monitoring.detection import Condition


@dataclass(frozen=True)
class Expected:
    alerts: tuple[str, ...]
    label: str | None = "member"  # the label carrying the fault's target; None: any instance (every member)
    why: str = ""  # for a kind no alert watches: why, in a line (reported as "uncovered")
    # A burst that is over at once but stands in the rule for its range (failed logins: increase over 1m):
    # the condition lasts this long from the fault, whatever its (immediate) heal record says.
    stands_seconds: float | None = None


FAILED_LOGIN_ALERT = "PostgresFailedLogins"
# The range of that rule's increase(...[1m]): a refused login counts toward the alert, and can raise it, this long
FAILED_LOGIN_WINDOW = 60.0

_DCS = "no exporter watches etcd: a DCS outage raises none of the spec's alerts (the PostgreSQL members stay up)"
BY_KIND: dict[str, Expected] = {
    "kill_member": Expected(("PostgresInstanceDown",)),
    "stop_member": Expected(("PostgresInstanceDown",)),
    "freeze_member": Expected(("PostgresInstanceDown",)),  # its exporter's scrapes time out
    "isolate_member": Expected(("PostgresInstanceDown",)),
    "fill_disk": Expected(("PostgresDiskSpace",)),
    "fill_disk_to": Expected(("PostgresDiskSpace",)),
    "stall_replay": Expected(("PostgresReplicationLag",)),
    "hold_connections": Expected(("PostgresConnectionPoolExhaustion",)),
    "failed_logins": Expected((FAILED_LOGIN_ALERT,), stands_seconds=FAILED_LOGIN_WINDOW),
    "destroy_postgres_cluster": Expected(("PostgresInstanceDown",), label=None),
    "region_loss": Expected(("PostgresInstanceDown", "RedisNodeDown"), label=None),
    "redis_cluster_crash": Expected(("RedisNodeDown",), label=None),
    "kill_redis_master": Expected(("RedisNodeDown",), label="node"),
    "freeze_redis_node": Expected(("RedisNodeDown",), label="node"),
    "kill_dcs": Expected((), why=_DCS),
    "freeze_dcs": Expected((), why=_DCS),
    "isolate_dcs": Expected((), why=_DCS),
    "stop_object_store": Expected((), why="the store itself is not watched; what it breaks is: a backup that fails "
                                          "(BackupFailed), a WAL segment that cannot be archived "
                                          "(PostgresWalArchivingFailing)"),
    "switchover": Expected((), why="a planned transition: no alert should fire"),
    "move_redis_slots": Expected((), why="a planned transition: no alert should fire"),
    "add_redis_master": Expected((), why="a planned transition: no alert should fire"),
}


def fault_records(history_dir: Path) -> list[Fault]:
    """The scenario's fault records, read by the checker's parser (checker.load.load_faults): a corrupt
    line is a one-line InvalidHistory naming file:line, never a raw JSONDecodeError."""
    return load_faults(history_dir)


def _ended(records: list[Fault], name: str, target: str, after: float) -> float | None:
    """When the fault was undone: its own heal record, or the heal's line for it ("kill_member pg2")."""
    for r in records:
        own = r.name == name and r.target == target
        by_heal = r.name == "heal" and r.target == f"{name} {target}"
        if r.phase == "heal" and r.wall >= after and (own or by_heal):
            return r.wall
    return None


def conditions_from_faults(history_dir: Path) -> tuple[list[Condition], list[str]]:
    """The conditions a scenario's faults should raise, and one line per fault no alert watches."""
    records = fault_records(history_dir)
    conditions: list[Condition] = []
    uncovered: list[str] = []
    for r in records:
        if r.phase != "inject" or r.name not in BY_KIND:
            continue
        expected, name, target, at = BY_KIND[r.name], r.name, r.target, r.wall
        if not expected.alerts:
            uncovered.append(f"{name} {target}: {expected.why}")
        ended = at + expected.stands_seconds if expected.stands_seconds else _ended(records, name, target, at)
        labels = {expected.label: target} if expected.label else {}
        conditions += [Condition(alert, labels, f"{name} {target}", at, ended) for alert in expected.alerts]
    return conditions, uncovered
