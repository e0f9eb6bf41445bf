"""Time-to-detect judged from plain records: a condition, the ALERTS samples, the receiver's notifications."""

import json
from pathlib import Path

import pytest

from waqiti_drill.config import DEFAULT_RULES_FILE
from waqiti_drill.faults import registry
from waqiti_drill.monitoring import detection
from waqiti_drill.monitoring.detection import Condition, Intervals
from waqiti_drill.monitoring.expected import BY_KIND, conditions_from_faults
from waqiti_drill.monitoring.rules import load_rules, rules_by_name
from waqiti_drill.platform.base import AlertNotification, AlertSample
from waqiti_drill.timefmt import utc_iso

RULES = rules_by_name(load_rules(DEFAULT_RULES_FILE))
IV = Intervals(scrape=5, evaluation=5, group_wait=1)
T0 = 1_800_000_000.0
PG2 = {"member": "pg2"}
LABELS = {"member": "pg2", "severity": "critical", "job": "postgres", "instance": "127.0.0.1:25712"}


def samples(name: str, pending: list[float], firing: list[float], labels: dict | None = None) -> list[AlertSample]:
    labels = LABELS if labels is None else labels
    return ([AlertSample(name, labels, "pending", T0 + s) for s in pending]
            + [AlertSample(name, labels, "firing", T0 + s) for s in firing])


def told(name: str, status: str, received: float, ends: str = "0001-01-01T00:00:00Z",
         labels: dict | None = None) -> AlertNotification:
    own = {**(LABELS if labels is None else labels), "stack": "waqiti-postgres"}
    return AlertNotification(name, own, status, "", ends, T0 + received)


def test_a_member_down_detected_inside_its_budget():
    cond = Condition("PostgresInstanceDown", PG2, "kill_member pg2", T0, ended=T0 + 80)
    seen = samples("PostgresInstanceDown", [3.2, 8.2, 13.2], [63.2, 68.2])
    notes = [told("PostgresInstanceDown", "firing", 64.4),
             told("PostgresInstanceDown", "resolved", 95.0, utc_iso(T0 + 88.2))]
    d = detection.measure(cond, RULES["PostgresInstanceDown"], IV, seen, notes, now=T0 + 100)
    assert (d.pending_seconds, d.firing_seconds, d.notified_seconds, d.resolved_seconds) == (3.2, 63.2, 64.4, 88.2)
    assert d.budget_seconds == 71 and d.window_seconds == 60 and d.verdict == "detected" and d.held_seconds == 80
    assert d.firing_at == utc_iso(T0 + 63.2) and d.resolved_notified_at == utc_iso(T0 + 95.0)


def test_late_missed_and_not_expected():
    rule = RULES["PostgresInstanceDown"]
    late = detection.measure(Condition("PostgresInstanceDown", PG2, "k", T0, T0 + 90), rule, IV,
                             samples("PostgresInstanceDown", [4], [64]), [told("PostgresInstanceDown", "firing", 72.5)],
                             now=T0 + 100)
    assert late.verdict == "late" and late.notified_seconds == 72.5
    missed = detection.measure(Condition("PostgresInstanceDown", PG2, "k", T0, T0 + 90), rule, IV, [], [], T0 + 100)
    assert missed.verdict == "missed"
    short = detection.measure(Condition("PostgresInstanceDown", PG2, "k", T0, T0 + 25), rule, IV,
                              samples("PostgresInstanceDown", [4, 9], []), [], T0 + 100)
    assert short.verdict == "not expected" and short.pending_seconds == 4 and "pending 4.0s" in short.note
    unnotified = detection.measure(Condition("PostgresInstanceDown", PG2, "k", T0, T0 + 90), rule, IV,
                                   samples("PostgresInstanceDown", [4], [64]), [], T0 + 100)
    assert unnotified.verdict == "not notified"


def test_another_members_alert_or_an_earlier_episode_does_not_count():
    rule = RULES["PostgresInstanceDown"]
    other = samples("PostgresInstanceDown", [1], [61], {**LABELS, "member": "pg3"})
    before = [AlertSample("PostgresInstanceDown", LABELS, "firing", T0 - 5)]
    d = detection.measure(Condition("PostgresInstanceDown", PG2, "k", T0, T0 + 90), rule, IV, other + before,
                          [told("PostgresInstanceDown", "firing", 62, labels={**LABELS, "member": "pg3"})], T0 + 100)
    assert d.verdict == "missed" and d.firing_at is None and d.notified_at is None


def test_the_lag_budget_includes_the_time_to_cross_the_threshold():
    d = detection.measure(Condition("PostgresReplicationLag", {"member": "pg3"}, "stall_replay pg3", T0),
                          RULES["PostgresReplicationLag"], IV, [], [], now=T0 + 10)
    assert d.lead_seconds == 30 and d.budget_seconds == 30 + 120 + 11 and d.verdict == "not expected"
    assert d.held_seconds is None  # still standing


def test_an_immediate_alert_has_no_pending_instant():
    labels = {"type": "incr", "job": "waqiti_backup", "stanza": "waqiti", "severity": "critical"}
    cond = Condition("BackupFailed", {"type": "incr"}, "incremental backup failed", T0)
    seen = samples("BackupFailed", [], [6.1], labels)
    d = detection.measure(cond, RULES["BackupFailed"], IV, seen, [told("BackupFailed", "firing", 7.3, labels=labels)],
                          now=T0 + 30)
    assert d.budget_seconds == 11 and d.pending_at is None and d.firing_seconds == 6.1 and d.verdict == "detected"


def test_false_positives_are_alerts_fired_before_any_fault():
    seen = samples("PostgresDiskSpace", [], [10], {**LABELS, "member": "pg1"}) + samples("BackupFailed", [], [50], {})
    assert detection.false_positives(seen, RULES, None, set()) == ["BackupFailed{}", "PostgresDiskSpace{member=pg1}"]
    assert detection.false_positives(seen, RULES, T0 + 20, set()) == ["PostgresDiskSpace{member=pg1}"]
    assert detection.false_positives(seen, RULES, T0 + 20, {"PostgresDiskSpace{member=pg1}"}) == []
    assert detection.fired(seen) == {"PostgresDiskSpace{member=pg1}": T0 + 10, "BackupFailed{}": T0 + 50}


def test_a_carried_over_failed_login_alert_is_explained_only_while_its_window_can_explain_it():
    """An earlier scenario's refused logins, still in the window when this one began, may raise the alert
    until the window has passed them; a firing after that is this scenario's false positive."""
    key = "PostgresFailedLogins{member=pg2}"
    early = samples("PostgresFailedLogins", [], [20])
    late = samples("PostgresFailedLogins", [], [80])
    assert detection.false_positives(early, RULES, None, set(), {key: T0 + 70}) == []
    assert detection.false_positives(late, RULES, None, set(), {key: T0 + 70}) == [key]
    assert detection.false_positives(early, RULES, None, set(), {"PostgresFailedLogins{member=pg1}": T0 + 70}) == [key]
    assert detection.false_positives(early, RULES, None, set()) == [key]


def test_failed_lines():
    rule = RULES["PostgresInstanceDown"]
    d = detection.measure(Condition("PostgresInstanceDown", PG2, "kill_member pg2", T0, T0 + 90), rule, IV, [], [],
                          T0 + 100)
    assert detection.failed([d]) == ["PostgresInstanceDown{member=pg2} after kill_member pg2: missed (budget 71s)"]


def test_every_fault_kind_says_which_alert_should_detect_it():
    assert set(BY_KIND) == set(registry.kinds())
    for name, expected in BY_KIND.items():
        assert expected.alerts or expected.why, name
        assert all(a in RULES for a in expected.alerts), name


def test_conditions_come_from_the_fault_records(tmp_path: Path):
    records = [
        {"kind": "fault", "name": "kill_member", "target": "pg2", "phase": "inject", "wall": T0, "mono": 1.0},
        {"kind": "fault", "name": "kill_dcs", "target": "dcs", "phase": "inject", "wall": T0 + 1, "mono": 2.0},
        {"kind": "fault", "name": "heal", "target": "kill_member pg2", "phase": "heal", "wall": T0 + 70, "mono": 71.0},
        {"kind": "fault", "name": "kill_redis_master", "target": "127.0.0.1:25501", "phase": "inject",
         "wall": T0 + 2, "mono": 3.0},
    ]
    (tmp_path / "faults.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    conditions, uncovered = conditions_from_faults(tmp_path)
    assert [(c.alert, c.labels, c.at, c.ended) for c in conditions] == [
        ("PostgresInstanceDown", {"member": "pg2"}, T0, T0 + 70),
        ("RedisNodeDown", {"node": "127.0.0.1:25501"}, T0 + 2, None)]
    assert len(uncovered) == 1 and uncovered[0].startswith("kill_dcs dcs: no exporter watches etcd")
    assert conditions_from_faults(tmp_path / "none") == ([], [])


def test_a_corrupt_fault_record_is_one_line_naming_file_and_line(tmp_path: Path):
    from waqiti_drill.errors import InvalidHistory

    good = {"kind": "fault", "name": "kill_member", "target": "pg2", "phase": "inject", "wall": T0, "mono": 1.0}
    (tmp_path / "faults.jsonl").write_text(json.dumps(good) + "\n" + '{"kind": "fault", "name": \n')
    with pytest.raises(InvalidHistory) as err:
        conditions_from_faults(tmp_path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{tmp_path / 'faults.jsonl'}:2: not valid JSON")


def test_an_alert_the_drill_s_own_probes_may_raise_is_explained_but_never_judged():
    rule = RULES["PostgresFailedLogins"]
    own = Condition("PostgresFailedLogins", {}, "plain-text startups of the TLS probe", T0, T0 + 1, required=False)
    quiet = detection.measure(own, rule, IV, [], [], T0 + 100)
    fired_late = detection.measure(own, rule, IV, samples("PostgresFailedLogins", [], [30]),
                                   [told("PostgresFailedLogins", "firing", 31)], T0 + 100)
    assert quiet.verdict == fired_late.verdict == "not expected"
    assert "not judged" in quiet.note and "fired 30.0s after" in fired_late.note
    assert detection.failed([quiet, fired_late]) == []
    required = Condition("PostgresFailedLogins", {}, "8 refused logins", T0, T0 + 90)
    assert detection.measure(required, rule, IV, samples("PostgresFailedLogins", [], [30]),
                             [told("PostgresFailedLogins", "firing", 31)], T0 + 100).verdict == "late"
    assert detection.false_positives(samples("PostgresFailedLogins", [], [30]), RULES, own.at, set()) == []
