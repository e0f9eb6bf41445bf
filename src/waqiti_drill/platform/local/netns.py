"""The stack's own network in `netns` mode: a host bridge, one namespace per member, veth pairs.

Only root can build it. `ensure` is idempotent: it reuses what exists and recreates what a reboot or
a crash took away (namespaces and bridges do not survive a reboot; the state directory does).
`remove` deletes everything carrying this stack's prefix, so it also clears a crashed run's leftovers.
Nothing here touches the host's own iptables: the network policy (netpolicy.py) and the partition rules
live inside the member namespaces.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import shutil
from pathlib import Path

from waqiti_drill.errors import InvalidConfig
from waqiti_drill.platform.local.commands import run_privileged
from waqiti_drill.platform.local.context import find_binary
from waqiti_drill.platform.local.netplan import (
    NETNS_HOSTS_ROOT,
    NS_INTERFACE,
    MemberNet,
    NetworkPlan,
    render_netns_hosts,
)
from waqiti_drill.platform.local.netpolicy import MemberPolicy
from waqiti_drill.waiting import wait_until

BRIDGE_NF = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")


def ip_binary() -> str:
    return find_binary("ip", "the Debian package iproute2")


def check_network_tools() -> None:
    """Everything `netns` mode runs, checked before anything is started."""
    ip_binary()
    find_binary("iptables-restore", "the Debian package iptables")
    find_binary("iptables-save", "the Debian package iptables")
    find_binary("setpriv", "the Debian package util-linux")


class StackNetwork:
    def __init__(self, plan: NetworkPlan) -> None:
        self.plan = plan

    def _ip(self, *args: str, what: str, check: bool = True) -> str:
        return run_privileged([ip_binary(), *args], what, check=check).stdout

    # ----- what exists ---------------------------------------------------------------------------
    def links(self) -> set[str]:
        """Host interfaces whose name carries this stack's prefix."""
        data = json.loads(self._ip("-j", "link", "show", what="ip link show") or "[]")
        return {d["ifname"] for d in data if d["ifname"].startswith(self.plan.prefix)}

    def namespaces(self) -> list[str]:
        """This stack's network namespaces (including any a crashed run left behind)."""
        data = json.loads(self._ip("-j", "netns", "list", what="ip netns list") or "[]")
        return sorted(d["name"] for d in data if d["name"].startswith(self.plan.prefix + "-"))

    def describe(self) -> list[str]:
        return [f"namespace {n}" for n in self.namespaces()] + [f"link {n}" for n in sorted(self.links())]

    # ----- create --------------------------------------------------------------------------------
    def ensure(self) -> None:
        if not self.plan.isolated:
            return
        self._check_bridged_traffic_allowed()
        links = self.links()
        self._ensure_bridge(links)
        for m in self.plan.members:
            self._ensure_member(m, links)
        MemberPolicy(self.plan).ensure()

    def _ensure_bridge(self, links: set[str]) -> None:
        plan, bridge = self.plan, str(self.plan.bridge)
        if bridge not in links:
            self._check_subnet_free()
            self._ip("link", "add", "name", bridge, "type", "bridge", what=f"creating bridge {bridge}")
        prefix_len = ipaddress.IPv4Network(plan.subnet).prefixlen
        self._ip("addr", "replace", f"{plan.host_address}/{prefix_len}", "dev", bridge,
                 what=f"addressing bridge {bridge}")
        self._ip("link", "set", bridge, "up", what=f"bringing up bridge {bridge}")

    def _ensure_member(self, m: MemberNet, links: set[str]) -> None:
        ns, veth = str(m.netns), str(m.host_veth)
        if ns not in self.namespaces():
            self._ip("netns", "add", ns, what=f"creating network namespace {ns}")
        hosts_dir = NETNS_HOSTS_ROOT / ns
        hosts_dir.mkdir(parents=True, exist_ok=True)
        (hosts_dir / "hosts").write_text(render_netns_hosts(self.plan, ns))
        (hosts_dir / "hosts").chmod(0o644)
        if Path("/proc/sys/net/ipv6").exists():
            # IPv4 only, so the IPv4 partition rules cut every path in or out.
            run_privileged([ip_binary(), "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                            "net.ipv6.conf.default.disable_ipv6=1"], f"disabling IPv6 in {ns}")
        self._ip("-n", ns, "link", "set", "lo", "up", what=f"bringing up loopback in {ns}")
        if veth not in links:
            # Deleting either end of a veth pair deletes both: a lone end in the namespace cannot remain,
            # but an interface of that name from elsewhere would block the new pair.
            self._ip("-n", ns, "link", "del", NS_INTERFACE, what=f"clearing {NS_INTERFACE} in {ns}", check=False)
            self._ip("link", "add", veth, "type", "veth", "peer", "name", NS_INTERFACE, "netns", ns,
                     what=f"creating veth pair {veth} for {ns}")
        self._ip("link", "set", veth, "master", str(self.plan.bridge), "up", what=f"attaching {veth} to the bridge")
        prefix_len = ipaddress.IPv4Network(self.plan.subnet).prefixlen
        self._ip("-n", ns, "addr", "replace", f"{m.address}/{prefix_len}", "dev", NS_INTERFACE,
                 what=f"addressing {NS_INTERFACE} in {ns}")
        self._ip("-n", ns, "link", "set", NS_INTERFACE, "up", what=f"bringing up {NS_INTERFACE} in {ns}")

    def _check_subnet_free(self) -> None:
        """Our /24 must not shadow a route the machine already uses (checked once, before creating it)."""
        ours = ipaddress.IPv4Network(self.plan.subnet)
        routes = json.loads(self._ip("-j", "-4", "route", "show", "table", "all", what="ip route show") or "[]")
        for r in routes:
            dst = r.get("dst", "default")
            if dst == "default":
                continue
            try:
                net = ipaddress.IPv4Network(dst, strict=False)
            except ValueError:
                continue
            if net.overlaps(ours) and r.get("dev") != self.plan.bridge:
                raise InvalidConfig(
                    f"the member subnet {ours} (chosen from the state directory's path) overlaps route {dst} "
                    f"on {r.get('dev')}; choose another --state-dir"
                )

    def _check_bridged_traffic_allowed(self) -> None:
        """Traffic between members crosses the bridge; with br_netfilter it also meets the host's FORWARD chain."""
        try:
            if BRIDGE_NF.read_text().strip() != "1":
                return
        except OSError:
            return
        saved = run_privileged([find_binary("iptables-save", "the Debian package iptables"), "-t", "filter"],
                               "iptables-save (host, read only)", check=False).stdout
        if ":FORWARD DROP" in saved and str(self.plan.bridge) not in saved:
            raise InvalidConfig(
                f"the host's iptables FORWARD policy is DROP and bridged traffic is filtered, so members on bridge "
                f"{self.plan.bridge} could not reach each other; allow it (iptables -I FORWARD -i {self.plan.bridge} "
                f"-o {self.plan.bridge} -j ACCEPT) or set network = \"loopback\" in the config file"
            )

    # ----- remove --------------------------------------------------------------------------------
    def remove(self) -> list[str]:
        """Delete this stack's namespaces, veths, bridge and hosts files; returns what was removed."""
        removed = []
        for ns in self.namespaces():
            self._ip("netns", "del", ns, what=f"deleting network namespace {ns}")
            removed.append(f"namespace {ns}")
        # A deleted namespace takes its veth pair with it, but asynchronously: a host end may still be
        # listed, and gone a moment later. Delete what is listed, tolerating that, then wait for none.
        for link in sorted(self.links()):
            if run_privileged([ip_binary(), "link", "del", link], f"deleting {link}", check=False).returncode == 0:
                removed.append(f"link {link}")

        def none_left() -> tuple[bool, list[str]]:
            left = self.describe()
            return not left, left

        wait_until(none_left, 10.0, f"every namespace and interface named {self.plan.prefix}* to be gone")
        for d in sorted(NETNS_HOSTS_ROOT.glob(self.plan.prefix + "-*")):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(f"hosts file {d}/hosts")
        with contextlib.suppress(OSError):
            NETNS_HOSTS_ROOT.rmdir()  # only when empty: another stack's (or anyone's) files keep it
        return removed
