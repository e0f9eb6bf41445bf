"""Pure parts of the security checks: the members' network policy rules and their read-back, the outsider's
names, the S3 pass-through's source ACL, pgaudit in the rendered Patroni config, and the audit-log reader."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from tests.unit.test_postgres_config import SECRETS
from waqiti_drill.config import Settings
from waqiti_drill.platform.local.auditlog import line_time, lines_since
from waqiti_drill.platform.local.haproxy import render_haproxy_cfg
from waqiti_drill.platform.local.layout import members
from waqiti_drill.platform.local.netplan import parse_saved_rules, plan_network, restore_script
from waqiti_drill.platform.local.netpolicy import (
    expected_policy,
    outsider_address,
    outsider_names,
    policy_script,
    saved_policy,
)
from waqiti_drill.platform.local.patroniconf import render_patroni_config
from waqiti_drill.platform.local.tls import tls_files

NETNS = Settings(state_dir=Path("/var/lib/wd"), network="netns")


def _saved(plan, extra: list[str] = ()) -> str:  # noqa: ANN001
    """iptables-save's form of the policy (quoted comments), as the real one prints it."""
    lines = [" ".join(["-A", *(f'"{a}"' if a.endswith(":policy") else a for a in rule)])
             for rule in expected_policy(plan)]
    return "\n".join(["*filter", ":INPUT ACCEPT [0:0]", *extra, *lines, "COMMIT"])


def test_the_policy_admits_the_host_side_and_the_members_and_resets_any_other_tcp():
    plan = plan_network(NETNS)
    rules = [" ".join(r) for r in expected_policy(plan)]
    assert rules[0].startswith("INPUT -i lo ")
    sources = [r.split()[2] for r in rules if r.split()[1] == "-s"]
    assert sources == [f"{a}/32" for a in (plan.host_address, *(m.address for m in plan.members))]
    assert rules[-1].endswith(f"-p tcp -m comment --comment {plan.prefix}:policy -j REJECT --reject-with tcp-reset")
    assert outsider_address(plan) not in " ".join(rules)


def test_the_policy_is_read_back_in_order_and_is_not_a_partition():
    plan = plan_network(NETNS)
    partition = f'-A INPUT ! -i lo -m comment --comment "{plan.prefix}:isolate-member" -j DROP'
    saved = _saved(plan, [partition])
    assert saved_policy(plan, saved) == expected_policy(plan)
    assert [r.fault for r in parse_saved_rules(plan, saved)] == ["isolate-member"], "heal removes partitions only"
    other = plan_network(Settings(state_dir=Path("/var/lib/other"), network="netns"))
    assert saved_policy(other, saved) == [], "another stack's policy is not ours"


def test_replacing_a_partial_policy_is_one_commit_deleting_what_is_there_first():
    plan = plan_network(NETNS)
    partial = expected_policy(plan)[:2]
    lines = policy_script(plan, partial)
    assert [line[0] for line in lines] == ["-D", "-D"] + ["-A"] * len(expected_policy(plan))
    script = restore_script(lines)
    assert script.startswith("*filter\n") and script.endswith("COMMIT\n")


def test_the_outsider_is_on_the_bridge_at_250_with_names_drill_down_removes():
    plan = plan_network(NETNS)
    assert outsider_address(plan).endswith(".250")
    ns, veth = outsider_names(plan)
    assert ns.startswith(plan.prefix + "-") and veth.startswith(plan.prefix) and len(veth) <= 15


def test_only_the_members_may_use_the_object_store_pass_through():
    cfg = render_haproxy_cfg(NETNS, members(NETNS))
    plan = plan_network(NETNS)
    acl = "tcp-request connection reject if !{ src " + " ".join(m.address for m in plan.members) + " }"
    assert acl in cfg


def test_pgaudit_logs_every_statement_class_but_not_parameters_or_catalog_reads():
    m = members(NETNS)[0]
    config = yaml.safe_load(render_patroni_config(NETNS, m, SECRETS, tls_files(NETNS.state_dir), "true",
                                                  Path("/log")))
    params = config["postgresql"]["parameters"]
    assert params["shared_preload_libraries"] == "pgaudit" and params["pgaudit.log"] == "all"
    assert params["pgaudit.log_parameter"] == "off" and params["pgaudit.log_catalog"] == "off"
    assert params["log_connections"] == "on" and params["log_timezone"] == "UTC"


LINES = [
    "2026-12-03 06:50:00.100 UTC [10] waqiti_user@waqiti LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,SELECT 1,<not logged>",
    "2026-12-03 06:50:05.200 UTC [11] waqiti_user@waqiti LOG:  AUDIT: SESSION,2,1,READ,SELECT,,,\"SELECT 'x'",
    "  AS continued\",<not logged>",
    "2026-12-03 06:50:09.999 UTC [12] [unknown]@[unknown] LOG:  connection received: host=10.0.0.1 port=5",
]


def test_log_lines_are_timed_by_their_utc_prefix():
    assert line_time(LINES[0]) == 1796280600.1
    assert line_time(LINES[2]) is None and line_time("garbage") is None


def test_lines_since_reads_back_from_the_end_keeping_continuations(tmp_path, monkeypatch):
    log = tmp_path / "postgresql-Thu.log"
    log.write_text("\n".join(["2026-12-03 06:40:00.000 UTC [9] old line"] * 5000 + LINES) + "\n")
    os.utime(log, (1796280700, 1796280700))
    monkeypatch.setattr("waqiti_drill.platform.local.auditlog.CHUNK", 64)  # many chunk boundaries
    assert lines_since(tmp_path, 1796280605.0) == LINES[1:]
    assert lines_since(tmp_path, 1796280611.0) == []
    os.utime(log, (1796280000, 1796280000))
    assert lines_since(tmp_path, 1796280605.0) == [], "a file not written since is not read"
