"""Real network partitions: iptables DROP rules inside the member namespaces, read back from the kernel.

The rules live in each member's own namespace (never in the host's tables), are tagged with a
comment carrying this stack's prefix, and are found again by reading `iptables-save`, so what is
reported and healed is what the kernel enforces, not what some process remembers. DROP, not REJECT:
packets vanish and TCP waits and times out, as on a cut link. Every change to one namespace is one
`iptables-restore --noflush` commit, so a member's two directions are cut at the same instant.
"""

from __future__ import annotations

from waqiti_drill.errors import CommandFailed
from waqiti_drill.platform.local.commands import run_privileged
from waqiti_drill.platform.local.context import find_binary
from waqiti_drill.platform.local.netns import StackNetwork, ip_binary
from waqiti_drill.platform.local.netplan import (
    DCS_FAULT,
    MEMBER_FAULT,
    FoundRule,
    NetworkPlan,
    Rule,
    dcs_isolation_rules,
    describe_faults,
    insert_lines,
    member_isolation_rules,
    parse_saved_rules,
    restore_script,
)


class Partitions:
    def __init__(self, plan: NetworkPlan, etcd_port: int) -> None:
        self.plan = plan
        self.etcd_port = etcd_port
        self.network = StackNetwork(plan)

    def _in_ns(self, ns: str, argv: list[str], what: str, input_text: str | None = None) -> str:
        return run_privileged([ip_binary(), "netns", "exec", ns, *argv], what, input_text=input_text).stdout

    def rules_in(self, ns: str) -> list[FoundRule]:
        saved = self._in_ns(ns, [find_binary("iptables-save", "the Debian package iptables"), "-t", "filter"],
                            f"reading the iptables rules of {ns}")
        return parse_saved_rules(self.plan, saved)

    def _apply(self, ns: str, lines: list[list[str]], what: str) -> None:
        if lines:
            restore = find_binary("iptables-restore", "the Debian package iptables")
            self._in_ns(ns, [restore, "--noflush"], what, input_text=restore_script(lines))

    def _add(self, ns: str, wanted: list[Rule], what: str) -> None:
        """Insert the rules of `wanted` not yet in force, then read back that all of them are."""
        present = {r.args for r in self.rules_in(ns)}
        self._apply(ns, insert_lines([r for r in wanted if tuple(r.spec()) not in present]), what)
        missing = [r for r in wanted if tuple(r.spec()) not in {f.args for f in self.rules_in(ns)}]
        if missing:
            raise CommandFailed(f"{what}: rule '{' '.join(missing[0].spec())}' is not in force after iptables-restore")

    def _drop(self, ns: str, fault: str | None, what: str) -> list[FoundRule]:
        """Delete this stack's rules of `fault` (every kind when None) in `ns`; returns what was removed."""
        found = [r for r in self.rules_in(ns) if fault is None or r.fault == fault]
        self._apply(ns, [r.delete_line() for r in found], what)
        return found

    def _member_ns(self, name: str) -> str:
        return str(self.plan.member(name).netns)

    # ----- the primitives ------------------------------------------------------------------------
    def isolate_member(self, name: str) -> None:
        self._add(self._member_ns(name), member_isolation_rules(self.plan), f"isolating member {name}")

    def reconnect_member(self, name: str) -> None:
        self._drop(self._member_ns(name), MEMBER_FAULT, f"reconnecting member {name}")

    def isolate_dcs(self) -> None:
        for m in self.plan.members:
            self._add(str(m.netns), dcs_isolation_rules(self.plan, self.etcd_port), f"cutting {m.name} from the DCS")

    def reconnect_dcs(self) -> None:
        for m in self.plan.members:
            self._drop(str(m.netns), DCS_FAULT, f"reconnecting {m.name} to the DCS")

    def heal(self) -> list[str]:
        """Remove every partition rule of this stack in every namespace it has, planned or left over."""
        removed = []
        for ns in self.network.namespaces():
            member = ns.removeprefix(self.plan.prefix + "-")
            for rule in self._drop(ns, None, f"healing the network of {ns}"):
                removed.append(f"{member}: {rule.fault} {rule.describe()}")
        return removed

    def faults(self) -> list[str]:
        """Isolations in force now, as the kernel has them: e.g. ['member pg1', 'dcs']."""
        names = {str(m.netns) for m in self.plan.members}  # not the outsider a security probe may have up
        by_member = {ns.removeprefix(self.plan.prefix + "-"): self.rules_in(ns) for ns in self.network.namespaces()
                     if ns in names}
        return describe_faults(by_member)
