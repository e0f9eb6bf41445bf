"""Where each part of the stack sits on the network, and the partition rules, as pure data.

In `netns` mode every PostgreSQL member (Patroni, postgres and everything they start, including
pgBackRest's archive-push) runs in a network namespace of its own, joined by a veth pair to a bridge
on the host. The host side of the bridge carries the DCS (etcd) and a TCP pass-through to the object
store; clients keep using HAProxy on 127.0.0.1. A partition is then a real one: iptables DROP rules
inside the member's namespace, so packets vanish and TCP times out as it would on a cut cable.

Every name (namespaces, interfaces, the /24 subnet, rule comments) is derived from a hash of the
state directory's path, so two stacks on one machine never collide, and a stack can find and remove
its own leftovers without a record of them. In `loopback` mode everything stays on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import ipaddress
import shlex
from dataclasses import dataclass
from pathlib import Path

from waqiti_drill.config import PG_MEMBERS, Settings

# The object store's name inside the namespaces: pgBackRest verifies the certificate against the
# endpoint's host name (an IP address is refused), and inside a namespace `localhost` is the
# namespace's own loopback. /etc/netns/<ns>/hosts maps this name to the bridge address.
S3_HOST_NAME = "s3.waqiti-drill.internal"
NETNS_HOSTS_ROOT = Path("/etc/netns")  # `ip netns exec` bind-mounts /etc/netns/<ns>/* over /etc/*
NS_INTERFACE = "eth0"  # the member's end of its veth pair, created directly inside its namespace
BRIDGE_HOST_NUMBER = 1
MEMBER_HOST_BASE = 11  # pg1 is .11, pg2 .12, pg3 .13


@dataclass(frozen=True)
class MemberNet:
    name: str
    netns: str | None  # None in loopback mode
    host_veth: str | None  # the host's end of the veth pair, a port of the bridge
    address: str  # where its PostgreSQL and Patroni REST listen


@dataclass(frozen=True)
class NetworkPlan:
    mode: str  # "netns" or "loopback"
    tag: str  # 8 hex characters from the state directory's path
    subnet: str | None  # e.g. "10.93.14.0/24"; None in loopback mode
    bridge: str | None
    host_address: str  # the host as members see it: the DCS and the object store's pass-through
    members: tuple[MemberNet, ...]

    @property
    def isolated(self) -> bool:
        return self.mode == "netns"

    @property
    def prefix(self) -> str:
        """Every namespace and interface of this stack starts with it (and nothing else does)."""
        return f"wd{self.tag}"

    def member(self, name: str) -> MemberNet:
        return next(m for m in self.members if m.name == name)

    def addresses(self) -> list[str]:
        """Every address a server of this stack may be reached at (for the certificate and pg_hba)."""
        out = ["127.0.0.1"]
        for a in [self.host_address, *(m.address for m in self.members)]:
            if a not in out:
                out.append(a)
        return out


def state_tag(state_dir: Path) -> str:
    return hashlib.sha256(str(state_dir).encode()).hexdigest()[:8]


def subnet_for(tag: str) -> ipaddress.IPv4Network:
    """A /24 in 10.64.0.0-10.191.255.0, chosen by the tag (up checks it overlaps no route)."""
    raw = bytes.fromhex(tag)
    return ipaddress.IPv4Network(f"10.{64 + raw[0] % 128}.{raw[1]}.0/24")


def plan_network(settings: Settings) -> NetworkPlan:
    tag = state_tag(settings.state_dir)
    if settings.network != "netns":
        members = tuple(MemberNet(n, None, None, settings.host) for n in PG_MEMBERS)
        return NetworkPlan("loopback", tag, None, None, settings.host, members)
    net = subnet_for(tag)
    prefix = f"wd{tag}"
    members = tuple(
        MemberNet(n, f"{prefix}-{n}", f"{prefix}{n}", str(net.network_address + MEMBER_HOST_BASE + i))
        for i, n in enumerate(PG_MEMBERS)
    )
    host = str(net.network_address + BRIDGE_HOST_NUMBER)
    return NetworkPlan("netns", tag, str(net), f"{prefix}br", host, members)


def render_netns_hosts(plan: NetworkPlan, netns: str) -> str:
    """/etc/hosts as the member in `netns` sees it: its own loopback, and the object store's name."""
    return (
        f"# /etc/hosts of network namespace {netns}; written by waqiti-drill, removed by 'drill down'\n"
        "127.0.0.1\tlocalhost\n"
        f"{plan.host_address}\t{S3_HOST_NAME}\n"
    )


# ----- partition rules -------------------------------------------------------------------------

MEMBER_FAULT = "isolate-member"
DCS_FAULT = "isolate-dcs"


@dataclass(frozen=True)
class Rule:
    """One iptables filter rule inside a member's namespace, tagged by a comment naming the fault."""

    chain: str
    match: tuple[str, ...]
    comment: str

    def spec(self) -> list[str]:
        return [self.chain, *self.match, "-m", "comment", "--comment", self.comment, "-j", "DROP"]


def fault_comment(plan: NetworkPlan, fault: str) -> str:
    return f"{plan.prefix}:{fault}"


def member_isolation_rules(plan: NetworkPlan) -> list[Rule]:
    """Nothing in or out of the namespace except its own loopback."""
    c = fault_comment(plan, MEMBER_FAULT)
    return [Rule("INPUT", ("!", "-i", "lo"), c), Rule("OUTPUT", ("!", "-o", "lo"), c)]


def dcs_isolation_rules(plan: NetworkPlan, etcd_port: int) -> list[Rule]:
    """No packet to or from etcd's client port on the host; everything else still flows."""
    c, host = fault_comment(plan, DCS_FAULT), f"{plan.host_address}/32"
    return [
        Rule("OUTPUT", ("-d", host, "-p", "tcp", "-m", "tcp", "--dport", str(etcd_port)), c),
        Rule("INPUT", ("-s", host, "-p", "tcp", "-m", "tcp", "--sport", str(etcd_port)), c),
    ]


def restore_script(lines: list[list[str]]) -> str:
    """An `iptables-restore --noflush` script: every change to a namespace's rules in one commit.

    iptables-restore splits on blanks and knows only double quotes, so no argument may need quoting
    (ours never do: addresses, ports, chain names and prefix:fault comments).
    """
    for line in lines:
        for arg in line:
            if not arg or any(c.isspace() or c in "\"'" for c in arg):
                raise ValueError(f"iptables argument {arg!r} would need quoting")
    return "\n".join(["*filter", *(" ".join(line) for line in lines), "COMMIT"]) + "\n"


def insert_lines(rules: list[Rule]) -> list[list[str]]:
    # Inserted in reverse at position 1, so they end up first and in the given order.
    return [["-I", r.chain, "1", *r.spec()[1:]] for r in reversed(rules)]


@dataclass(frozen=True)
class FoundRule:
    """A partition rule read back from `iptables-save` in one namespace."""

    fault: str  # MEMBER_FAULT or DCS_FAULT
    args: tuple[str, ...]  # as saved, without the leading "-A"

    def delete_line(self) -> list[str]:
        return ["-D", *self.args]

    def describe(self) -> str:
        """The rule as iptables-save shows it, without our comment: e.g. 'INPUT ! -i lo -j DROP'."""
        args = list(self.args)
        i = args.index("--comment")
        if args[i - 2 : i] == ["-m", "comment"]:
            del args[i - 2 : i + 2]
        return " ".join(args)


def parse_saved_rules(plan: NetworkPlan, saved: str) -> list[FoundRule]:
    """This stack's partition rules in one namespace's `iptables-save -t filter` output (pure)."""
    found = []
    for line in saved.splitlines():
        if not line.startswith("-A "):
            continue
        args = shlex.split(line)[1:]
        if "--comment" not in args:
            continue
        comment = args[args.index("--comment") + 1]
        owner, _, fault = comment.partition(":")
        if owner == plan.prefix and fault in (MEMBER_FAULT, DCS_FAULT):
            found.append(FoundRule(fault, tuple(args)))
    return found


def describe_faults(by_member: dict[str, list[FoundRule]]) -> list[str]:
    """'member pg1' for each isolated member, 'dcs' when any member is cut from the DCS (pure)."""
    out = [f"member {name}" for name, rules in sorted(by_member.items())
           if any(r.fault == MEMBER_FAULT for r in rules)]
    cut = sorted(name for name, rules in by_member.items() if any(r.fault == DCS_FAULT for r in rules))
    if cut:
        out.append("dcs" if len(cut) == len(by_member) else f"dcs (from {', '.join(cut)} only)")
    return out
