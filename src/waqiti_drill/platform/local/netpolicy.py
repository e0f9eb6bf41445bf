"""The members' network policy (the analogue of a Kubernetes NetworkPolicy on the database pods).

In `netns` mode each member's namespace admits TCP only from the stack's own addresses: the host side of
the bridge (HAProxy, the harness, the exporters, etcd's replies) and the members themselves. Anything else
on the bridge gets a TCP reset, so a connection from an address outside the allowed ones is refused at the
network layer before PostgreSQL's pg_hba (which also names exact addresses) is ever asked.

The rules are iptables rules inside the member's namespace (never the host's tables), appended after any
partition rule (partitions are inserted at the top, so an isolation still drops everything), and tagged
with the comment `<prefix>:policy`, which the partition code neither reports nor removes. `ensure` is
idempotent and part of `drill up` and of every heal: a policy removed behind the harness's back is put
back, and said so.

The outsider used to show the policy holds sits on the same bridge at `.250` in a namespace of its own
(`<prefix>-outsider`), made for one probe and removed after it (and by `drill down` if a run died).
"""

from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass

from waqiti_drill.errors import CommandFailed
from waqiti_drill.platform.local.context import find_binary
from waqiti_drill.platform.local.netplan import NetworkPlan, restore_script

POLICY = "policy"
OUTSIDER_HOST_NUMBER = 250


@dataclass(frozen=True)
class PolicyRule:
    """One rule of the policy, in the INPUT chain of a member's namespace."""

    match: tuple[str, ...]
    target: tuple[str, ...]

    def args(self, comment: str) -> list[str]:
        return ["INPUT", *self.match, "-m", "comment", "--comment", comment, *self.target]


def policy_comment(plan: NetworkPlan) -> str:
    return f"{plan.prefix}:{POLICY}"


def allowed_sources(plan: NetworkPlan) -> list[str]:
    """Who may open a connection to a member: the host side of the bridge and every member."""
    return [plan.host_address, *(m.address for m in plan.members)]


def policy_rules(plan: NetworkPlan) -> list[PolicyRule]:
    """Loopback and the allowed sources accepted; any other TCP reset (refused, as a policy's deny reads to a
    client); other protocols (ICMP) left alone so the bridge's neighbour discovery keeps working."""
    rules = [PolicyRule(("-i", "lo"), ("-j", "ACCEPT"))]
    rules += [PolicyRule(("-s", f"{a}/32"), ("-j", "ACCEPT")) for a in allowed_sources(plan)]
    rules.append(PolicyRule(("-p", "tcp"), ("-j", "REJECT", "--reject-with", "tcp-reset")))
    return rules


def saved_policy(plan: NetworkPlan, saved: str) -> list[tuple[str, ...]]:
    """This stack's policy rules as one namespace's `iptables-save -t filter` has them, in order (pure)."""
    comment = policy_comment(plan)
    found = []
    for line in saved.splitlines():
        if not line.startswith("-A INPUT "):
            continue
        args = shlex.split(line)[1:]
        if "--comment" in args and args[args.index("--comment") + 1] == comment:
            found.append(tuple(args))
    return found


def expected_policy(plan: NetworkPlan) -> list[tuple[str, ...]]:
    """The policy as `iptables-save` prints it back (the same arguments in the same order: checked against
    the real iptables by the integration tests)."""
    return [tuple(rule.args(policy_comment(plan))) for rule in policy_rules(plan)]


def policy_script(plan: NetworkPlan, present: list[tuple[str, ...]]) -> list[list[str]]:
    """iptables-restore lines that replace whatever policy rules are present with the whole policy, in one
    commit (so a member is never left half-open or half-closed)."""
    lines = [["-D", *args] for args in present]
    lines += [["-A", *rule.args(policy_comment(plan))] for rule in policy_rules(plan)]
    return lines


def outsider_address(plan: NetworkPlan) -> str:
    return str(ipaddress.IPv4Network(plan.subnet).network_address + OUTSIDER_HOST_NUMBER)


def outsider_names(plan: NetworkPlan) -> tuple[str, str]:
    """(namespace, host end of its veth pair): both carry the stack's prefix, so `drill down` removes them."""
    return f"{plan.prefix}-outsider", f"{plan.prefix}out"


class MemberPolicy:
    """Applies and reads back the policy in the members' namespaces (root, `netns` mode only)."""

    def __init__(self, plan: NetworkPlan) -> None:
        self.plan = plan

    def _in_ns(self, ns: str, argv: list[str], what: str, input_text: str | None = None) -> str:
        from waqiti_drill.platform.local.commands import run_privileged
        from waqiti_drill.platform.local.netns import ip_binary

        return run_privileged([ip_binary(), "netns", "exec", ns, *argv], what, input_text=input_text).stdout

    def present(self, ns: str) -> list[tuple[str, ...]]:
        saved = self._in_ns(ns, [find_binary("iptables-save", "the Debian package iptables"), "-t", "filter"],
                            f"reading the iptables rules of {ns}")
        return saved_policy(self.plan, saved)

    def ensure(self) -> list[str]:
        """Every member's namespace holds exactly the policy; one line per namespace it had to be (re)applied in."""
        done = []
        wanted = expected_policy(self.plan)
        for m in self.plan.members:
            ns = str(m.netns)
            present = self.present(ns)
            if present == wanted:
                continue
            restore = find_binary("iptables-restore", "the Debian package iptables")
            self._in_ns(ns, [restore, "--noflush"], f"applying the network policy of {m.name}",
                        input_text=restore_script(policy_script(self.plan, present)))
            if self.present(ns) != wanted:
                raise CommandFailed(f"the network policy of {m.name} is not in force after iptables-restore")
            done.append(f"{'restored' if present else 'applied'} the network policy of {m.name}")
        return done

    def remove(self, name: str) -> None:
        """Take one member's policy away (what the tests do behind the harness's back; a heal puts it back)."""
        ns = str(self.plan.member(name).netns)
        present = self.present(ns)
        if present:
            restore = find_binary("iptables-restore", "the Debian package iptables")
            self._in_ns(ns, [restore, "--noflush"], f"removing the network policy of {name}",
                        input_text=restore_script([["-D", *args] for args in present]))
