"""The network plan and partition rules are pure: names, addresses, hosts file, rule text, read-back."""

import ipaddress
from pathlib import Path

import pytest
import yaml

from tests.unit.test_postgres_config import SECRETS
from waqiti_drill.config import Settings, resolve_network
from waqiti_drill.errors import InvalidConfig
from waqiti_drill.platform.local.haproxy import render_haproxy_cfg
from waqiti_drill.platform.local.layout import members
from waqiti_drill.platform.local.netplan import (
    S3_HOST_NAME,
    dcs_isolation_rules,
    describe_faults,
    insert_lines,
    member_isolation_rules,
    parse_saved_rules,
    plan_network,
    render_netns_hosts,
    restore_script,
)
from waqiti_drill.platform.local.patroniconf import render_patroni_config
from waqiti_drill.platform.local.pgbackrest import render_config
from waqiti_drill.platform.local.statedir import network_record
from waqiti_drill.platform.local.tls import tls_files

NETNS = Settings(state_dir=Path("/var/lib/wd"), network="netns")
LOOPBACK = Settings(state_dir=Path("/var/lib/wd"))


def test_names_are_derived_from_the_state_directory_and_fit_the_kernel_limits():
    plan = plan_network(NETNS)
    other = plan_network(Settings(state_dir=Path("/var/lib/wd2"), network="netns"))
    assert plan.tag != other.tag and plan.subnet != other.subnet
    names = [plan.bridge, *(m.host_veth for m in plan.members)]
    assert all(n.startswith(plan.prefix) and len(n) <= 15 for n in names)
    assert [m.netns for m in plan.members] == [f"{plan.prefix}-pg1", f"{plan.prefix}-pg2", f"{plan.prefix}-pg3"]
    assert plan_network(NETNS) == plan  # stable: a later `up` or `down` finds the same names


def test_addresses_sit_in_one_private_slash_24():
    plan = plan_network(NETNS)
    net = ipaddress.IPv4Network(plan.subnet)
    assert net.prefixlen == 24 and net.subnet_of(ipaddress.IPv4Network("10.0.0.0/8"))
    hosts = [plan.host_address, *(m.address for m in plan.members)]
    assert all(ipaddress.IPv4Address(a) in net for a in hosts) and len(set(hosts)) == 4
    assert plan.addresses()[0] == "127.0.0.1" and set(hosts) <= set(plan.addresses())


def test_loopback_plan_keeps_everything_on_127_0_0_1():
    plan = plan_network(LOOPBACK)
    assert not plan.isolated and plan.subnet is None and plan.bridge is None
    assert {m.address for m in plan.members} == {"127.0.0.1"} and all(m.netns is None for m in plan.members)
    assert plan.addresses() == ["127.0.0.1"]
    assert network_record(LOOPBACK) == {"mode": "loopback", "subnet": None}


def test_network_setting_resolves_auto_by_privilege(monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 0)
    assert resolve_network("auto", "f") == "netns" and resolve_network("loopback", "f") == "loopback"
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert resolve_network("auto", "f") == "loopback"
    with pytest.raises(InvalidConfig, match="needs root"):
        resolve_network("netns", "f")
    with pytest.raises(InvalidConfig, match="must be one of auto, netns, loopback"):
        resolve_network("bridge", "f")


def test_hosts_file_maps_the_object_store_name_to_the_bridge():
    plan = plan_network(NETNS)
    text = render_netns_hosts(plan, plan.members[0].netns)
    entries = [line.split() for line in text.splitlines() if line and not line.startswith("#")]
    assert entries == [["127.0.0.1", "localhost"], [plan.host_address, S3_HOST_NAME]]


def test_members_listen_on_their_namespace_address_and_reach_the_dcs_on_the_bridge():
    plan = plan_network(NETNS)
    pg2 = members(NETNS)[1]
    assert pg2.host == plan.members[1].address and pg2.netns == plan.members[1].netns
    cfg = yaml.safe_load(render_patroni_config(NETNS, pg2, SECRETS, tls_files(NETNS.state_dir), "a %p",
                                               Path("/var/lib/wd/logs/pg2")))
    assert cfg["postgresql"]["listen"] == f"{pg2.host}:{pg2.port}"
    assert cfg["restapi"]["connect_address"] == f"{pg2.host}:{pg2.rest_port}"
    assert cfg["etcd3"]["hosts"] == [f"{plan.host_address}:{NETNS.ports.etcd_client}"]
    hba = cfg["postgresql"]["pg_hba"]
    assert all(line.startswith(("local ", "hostssl ")) for line in hba)
    for address in [plan.host_address, *(m.address for m in plan.members)]:
        assert f"hostssl replication replicator {address}/32 scram-sha-256" in hba
        assert f"hostssl all all {address}/32 scram-sha-256" in hba


def test_haproxy_checks_members_at_their_addresses_and_forwards_s3_from_the_bridge():
    plan = plan_network(NETNS)
    cfg = render_haproxy_cfg(NETNS, members(NETNS))
    m = members(NETNS)[0]
    assert f"server pg1 {m.host}:{m.port} check port {m.rest_port}" in cfg
    assert "bind 127.0.0.1:25432" in cfg  # clients keep using loopback
    s3 = cfg.split("listen waqiti-s3-for-members")[1]
    assert f"bind {plan.host_address}:{NETNS.ports.s3}" in s3 and f"server s3 127.0.0.1:{NETNS.ports.s3}" in s3
    assert "waqiti-s3-for-members" not in render_haproxy_cfg(LOOPBACK, members(LOOPBACK))


def test_pgbackrest_in_a_namespace_uses_the_certificate_name_of_the_store():
    conf = render_config(NETNS, SECRETS, members(NETNS)[0])
    assert f"repo1-s3-endpoint={S3_HOST_NAME}" in conf.splitlines()
    assert "repo1-s3-endpoint=localhost" in render_config(LOOPBACK, SECRETS, members(LOOPBACK)[0]).splitlines()


def test_member_isolation_cuts_everything_but_loopback_in_one_commit():
    plan = plan_network(NETNS)
    script = restore_script(insert_lines(member_isolation_rules(plan)))
    comment = f"{plan.prefix}:isolate-member"
    assert script == (
        "*filter\n"
        f"-I OUTPUT 1 ! -o lo -m comment --comment {comment} -j DROP\n"
        f"-I INPUT 1 ! -i lo -m comment --comment {comment} -j DROP\n"
        "COMMIT\n"
    )


def test_dcs_isolation_cuts_only_the_etcd_client_port_on_the_bridge():
    plan = plan_network(NETNS)
    rules = dcs_isolation_rules(plan, 25379)
    specs = [" ".join(r.spec()) for r in rules]
    assert specs == [
        f"OUTPUT -d {plan.host_address}/32 -p tcp -m tcp --dport 25379 -m comment --comment {plan.prefix}:isolate-dcs "
        "-j DROP",
        f"INPUT -s {plan.host_address}/32 -p tcp -m tcp --sport 25379 -m comment --comment {plan.prefix}:isolate-dcs "
        "-j DROP",
    ]


def test_restore_script_refuses_arguments_that_would_need_quoting():
    with pytest.raises(ValueError, match="quoting"):
        restore_script([["-I", "INPUT", "1", "-m", "comment", "--comment", "two words", "-j", "DROP"]])


def _saved(plan, extra: str = "") -> str:
    return (
        "# Generated by iptables-save v1.8.9 (nf_tables)\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
        ":OUTPUT ACCEPT [0:0]\n"
        f'-A INPUT ! -i lo -m comment --comment "{plan.prefix}:isolate-member" -j DROP\n'
        f'-A OUTPUT -d {plan.host_address}/32 -p tcp -m tcp --dport 25379 -m comment --comment '
        f'"{plan.prefix}:isolate-dcs" -j DROP\n'
        '-A OUTPUT -d 10.9.9.9/32 -m comment --comment "wd00000000:isolate-dcs" -j DROP\n'
        "-A OUTPUT -p udp -j ACCEPT\n"
        f"{extra}COMMIT\n"
    )


def test_saved_rules_are_read_back_and_only_ours_are_taken():
    plan = plan_network(NETNS)
    found = parse_saved_rules(plan, _saved(plan))
    assert [f.fault for f in found] == ["isolate-member", "isolate-dcs"]
    assert found[0].args == tuple(member_isolation_rules(plan)[0].spec())
    assert found[1].args == tuple(dcs_isolation_rules(plan, 25379)[0].spec())
    assert found[0].delete_line()[:3] == ["-D", "INPUT", "!"]
    assert found[0].describe() == "INPUT ! -i lo -j DROP"


def test_faults_are_described_per_member_and_the_dcs_once():
    plan = plan_network(NETNS)
    member_rule, dcs_rule = parse_saved_rules(plan, _saved(plan))
    assert describe_faults({"pg1": [member_rule, dcs_rule], "pg2": [dcs_rule], "pg3": [dcs_rule]}) == [
        "member pg1", "dcs"]
    assert describe_faults({"pg1": [], "pg2": [dcs_rule], "pg3": []}) == ["dcs (from pg2 only)"]
    assert describe_faults({"pg1": [], "pg2": [], "pg3": []}) == []
