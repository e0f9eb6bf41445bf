"""Redis Cluster on the embedded stack: six redis-server 7 nodes (3 masters, 3 replicas) on loopback.

Each node runs with its cwd in <state>/redis/<port>: that is how the supervisor finds its whole
process tree (the server and any BGSAVE / AOF-rewrite child) for kill, freeze and `drill down`.
Nodes speak TLS only and know four ACL users (redis_conf.py, redis_acl.py); the harness manages them
as the admin user, over TLS (redis_access.py). Passwords live only in the mode-600 redis.conf (as
SHA-256 digests, masterauth excepted), in REDISCLI_AUTH for redis-cli and in client objects, never in
argv, where every local user can read them from /proc.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import redis

from waqiti_drill.errors import CommandFailed, InvalidConfig, StartupFailed, WaitTimeout
from waqiti_drill.platform.base import RedisNode, RedisStatus
from waqiti_drill.platform.local.commands import run_tool
from waqiti_drill.platform.local.context import LocalContext, find_binary, require_ports_free
from waqiti_drill.platform.local.redis_access import cli_args, cli_env, node_client
from waqiti_drill.platform.local.redis_conf import render_conf
from waqiti_drill.platform.local.runas import make_dir, write_file
from waqiti_drill.platform.local.supervisor import ProcessSpec
from waqiti_drill.platform.redis_slots import TOTAL_SLOTS, open_slots, plan_move, slot_count
from waqiti_drill.waiting import timeout_multiplier, wait_until

MASTERS = 3
# How long a formed cluster may show a slot-less master before it counts as half-formed.
PAIRING_GRACE_SECONDS = 10.0
PACKAGE = "the Debian package redis-server"
CLI_PACKAGE = "the Debian package redis-tools"  # redis-cli lives there, not in redis-server


def _entries(text: str) -> list[tuple[RedisNode, bool]]:
    """CLUSTER NODES lines as (node, failed); `failed` is the agreed FAIL flag, not a local PFAIL."""
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 8:
            continue
        node_id, addr, raw_flags, master, link = fields[0], fields[1], fields[2], fields[3], fields[7]
        flags = set(raw_flags.split(","))
        if "handshake" in flags:  # a MEET in progress under a temporary id, not a member yet
            continue
        slots = [_slot_range(s) for s in fields[8:] if not s.startswith("[")]  # skip [slot->-id] markers
        node = RedisNode(
            address=addr.split("@")[0],
            node_id=node_id,
            role="replica" if "slave" in flags else "master",
            master_id=None if master == "-" else master,
            slots=slots,
            connected=link == "connected" and "fail" not in flags,
        )
        out.append((node, "fail" in flags))
    return out


def _slot_range(token: str) -> list[int]:
    start, _, end = token.partition("-")
    return [int(start), int(end or start)]


def parse_cluster_nodes(text: str) -> list[RedisNode]:
    """Parse CLUSTER NODES output into RedisNode records (addresses without the @bus part)."""
    return sorted((node for node, _ in _entries(text)), key=lambda n: n.address)


def covered_slots(text: str) -> int:
    """Slots served by masters the cluster has not marked FAIL (a PFAIL master still counts, as in Redis)."""
    return sum(
        e - s + 1 for node, failed in _entries(text) if node.role == "master" and not failed for s, e in node.slots
    )


def parse_info(text: str) -> dict[str, str]:
    """`key:value` lines (CLUSTER INFO) as a dict."""
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {k.strip(): v.strip() for k, v in pairs}


class RedisCluster:
    """The six nodes as one unit: config, processes, formation, status and per-node fault primitives."""

    def __init__(self, ctx: LocalContext) -> None:
        self.ctx = ctx
        ports = ctx.settings.ports
        self._bus: dict[int, int] = dict(zip(ports.redis, ports.redis_bus, strict=True))

    def addresses(self) -> list[str]:
        return [f"{self.ctx.host}:{port}" for port in self._bus]

    def bus_port(self, address: str) -> int:
        """The node's cluster-bus port (TLS, a client certificate of the stack's CA required)."""
        return self._bus[self._port(address)]

    def _port(self, address: str) -> int:
        host, _, raw = address.rpartition(":")
        if host == self.ctx.host and raw.isdigit() and int(raw) in self._bus:
            return int(raw)
        raise InvalidConfig(f"unknown Redis node '{address}'; valid: {', '.join(self.addresses())}")

    def process_name(self, address: str) -> str:
        return f"redis-{self._port(address)}"

    def process_names(self) -> list[str]:
        return [self.process_name(a) for a in self.addresses()]

    @property
    def create_dir(self) -> Path:
        """Working directory of `redis-cli --cluster create`, so that process can be found later."""
        return self.ctx.state_dir / "redis" / "create"

    @property
    def reshard_dir(self) -> Path:
        """Working directory of `redis-cli --cluster reshard|rebalance|fix`, so a leftover can be found."""
        return self.ctx.state_dir / "redis" / "reshard"

    def node_dir(self, address: str) -> Path:
        return self.ctx.state_dir / "redis" / str(self._port(address))

    def ports(self) -> dict[str, int]:
        """Client and bus ports by the names `Ports.all()` uses, for the port-in-use check."""
        out: dict[str, int] = {}
        for i, (port, bus) in enumerate(self._bus.items(), start=1):
            out[f"redis[{i}]"] = port
            out[f"redis_bus[{i}]"] = bus
        return out

    def render(self) -> None:
        """Write every node's redis.conf (mode 600, run user); rewriting the same content is harmless."""
        make_dir(self.ctx.user, self.ctx.state_dir / "redis")
        for address in self.addresses():
            port = self._port(address)
            node_dir = make_dir(self.ctx.user, self.node_dir(address))
            conf = render_conf(self.ctx.host, port, self._bus[port], node_dir, self.ctx.secrets, self.ctx.tls)
            write_file(self.ctx.user, node_dir / "redis.conf", conf)

    def start(self) -> None:
        """Start every node that is not running; running ones are left alone.

        All ports are checked before any node starts, so a busy port leaves nothing half-started.
        """
        server = find_binary("redis-server", PACKAGE)
        stopped = [a for a in self.addresses() if self.ctx.supervisor.pid_of(self.process_name(a)) is None]
        for address in stopped:
            self._check_ports(address)
        for address in stopped:
            self._launch(server, address)

    def start_node(self, address: str) -> None:
        """Start one node again (after kill_node); a no-op while it runs."""
        if self.ctx.supervisor.pid_of(self.process_name(address)) is None:
            self._check_ports(address)
            self._launch(find_binary("redis-server", PACKAGE), address)

    def _check_ports(self, address: str) -> None:
        name, port = self.process_name(address), self._port(address)
        require_ports_free(self.ctx.host, {name: port, f"{name} cluster bus": self._bus[port]}, f"Redis node {address}")

    def _launch(self, server: str, address: str) -> None:
        node_dir = self.node_dir(address)
        conf = node_dir / "redis.conf"
        if not conf.exists():
            raise StartupFailed(f"{conf} is missing: the state directory is incomplete; run 'drill down --purge'")
        spec = ProcessSpec(name=self.process_name(address), argv=[server, str(conf)], cwd=node_dir)
        self.ctx.supervisor.start(spec)

    def wait_ready(self, timeout: float) -> None:
        """Wait for all nodes, form the cluster if it is brand new, then wait until it is fully healthy.

        `timeout` is the budget for all of it. A half-formed cluster is refused rather than repaired:
        guessing which node's view is right could silently lose data.
        """
        deadline = time.monotonic() + timeout * timeout_multiplier()
        dead = wait_until(self._answering, _left(deadline), "all Redis nodes to answer an authenticated PING")
        if dead:
            self.ctx.supervisor.check_alive(self.process_name(dead), f"redis-server {dead}")
        # A creator left running by a harness that died must not race the one we may start.
        self.ctx.supervisor.kill_everything_under(self.create_dir)
        if self._is_fresh():
            self._create()
        wait_until(self._health, _left(deadline), "the Redis Cluster to be ok with 3 masters and 3 replicas")

    def _is_fresh(self) -> bool:
        """True when no node knows another or owns a slot; False when fully formed; else refuse."""
        views: dict[str, tuple[int, int]] = {}
        for address in self.addresses():
            try:
                info = parse_info(self.command(address, "CLUSTER", "INFO"))
            except redis.RedisError as exc:
                raise StartupFailed(f"Redis node {address} stopped answering during start-up: {exc}") from None
            views[address] = (int(info.get("cluster_known_nodes", 0)), int(info.get("cluster_slots_assigned", 0)))
        if all(known == 1 and slots == 0 for known, slots in views.values()):
            return True
        if all(known == len(views) and slots == TOTAL_SLOTS for known, slots in views.values()) and self._pairs_up():
            return False
        keys = {a: int(self.command(a, "DBSIZE")) for a in self.addresses()}
        if not any(keys.values()):
            for address in self.addresses():
                self.command(address, "CLUSTER", "RESET", "HARD")
            return True
        odd = {a: v for a, v in views.items() if v != (len(views), TOTAL_SLOTS)}
        seen = ", ".join(f"{a} knows {known} node(s) and {slots} slots" for a, (known, slots) in odd.items())
        raise StartupFailed(
            f"the Redis Cluster is half-formed ({seen}, not {len(views)} and {TOTAL_SLOTS}) and holds "
            f"{sum(keys.values())} key(s); "
            "run 'drill down --purge' and start again"
        )

    def _paired(self) -> tuple[bool, str]:
        """Every node is a master with slots or a replica: a creator killed before CLUSTER REPLICATE
        leaves three slot-less masters, which is half-formed, not formed."""
        nodes = self.status().nodes
        lone = [n.address for n in nodes if n.role != "replica" and not n.slots]
        return len(nodes) == len(self._bus) and not lone, f"slot-less masters: {', '.join(lone) or 'none'}"

    def _pairs_up(self) -> bool:
        """A formed cluster whose nodes all pair up within two node timeouts.

        A killed master started again after its replica took over comes back as a master with no
        slots until gossip tells it to follow its heir (CI saw it), so one look is not enough: a
        creator killed before CLUSTER REPLICATE leaves masters that stay slot-less, this does not.
        """
        try:
            wait_until(self._paired, PAIRING_GRACE_SECONDS, "every Redis node to be a master with slots or a replica")
        except WaitTimeout:
            return False
        return True

    def _answering(self) -> tuple[bool, str | None]:
        """Done when every node answers PING, or as soon as one has died (the caller reports its log)."""
        silent = []
        for address in self.addresses():
            if self.ctx.supervisor.pid_of(self.process_name(address)) is None:
                return True, address
            try:
                self.command(address, "PING")
            except redis.RedisError as exc:
                silent.append(f"{address}: {exc}")
        return not silent, "; ".join(silent) or None

    def _create(self) -> None:
        """Join the six fresh nodes: redis-cli assigns slots, pairs replicas and waits for agreement."""
        cli = find_binary("redis-cli", CLI_PACKAGE)
        argv = [cli, *cli_args(self.ctx), "--cluster", "create", *self.addresses(), "--cluster-replicas", "1",
                "--cluster-yes"]
        make_dir(self.ctx.user, self.create_dir)
        run_tool(
            self.ctx.user,
            argv,
            "creating the Redis Cluster",
            env=cli_env(self.ctx),
            cwd=self.create_dir,  # so a harness crash's leftover creator can be found and stopped
        )

    # ----- slots moved while clients keep writing ---------------------------------------------------
    def move_slots(self, source: str, target: str, count: int, timeout: float = 600.0) -> int:
        """Migrate `count` slots with their keys from master `source` to master `target` (redis-cli's
        reshard: per slot IMPORTING/MIGRATING, MIGRATE of its keys, SETSLOT NODE), then wait until every
        node agrees, says ok and all slots are served. Clients are redirected (ASK, then MOVED) meanwhile.
        Returns the number of slots `target` gained."""
        for address in (source, target):
            self._port(address)  # an address that is no node of this stack, named with the valid ones
        plan_move(self.status(), source, target, count)  # refuse bad arguments before touching anything
        self._settle(timeout)
        move = plan_move(self.status(), source, target, count)
        before = slot_count(move.target)
        self.cluster_tool(
            ["reshard", source, "--cluster-from", move.source.node_id, "--cluster-to", move.target.node_id,
             "--cluster-slots", str(count), "--cluster-yes"],
            f"moving {count} slots from {source} to {target}", timeout)
        self.wait_slots_settled(timeout)
        after = next(n for n in self.status().nodes if n.node_id == move.target.node_id)
        return slot_count(after) - before

    def rebalance(self, timeout: float = 600.0) -> None:
        """Even the slots out over the masters again (redis-cli's rebalance), then wait until settled."""
        self._settle(timeout)
        self.cluster_tool(["rebalance", self.entry_node(), "--cluster-use-empty-masters"],
                           "rebalancing the Redis Cluster's slots", timeout)
        self.wait_slots_settled(timeout)

    def _settle(self, timeout: float) -> None:
        """Before a reshard: what a cut-short one left is cleared (redis-cli refuses to start otherwise)."""
        self.close_open_slots(timeout)
        self.wait_slots_settled(timeout)

    def close_open_slots(self, timeout: float = 600.0) -> list[str]:
        """Stop a reshard a killed harness left running and close the slots it left migrating or
        importing (`redis-cli --cluster fix`, which finishes moving their keys). One line per thing done."""
        done = [f"stopped a leftover redis-cli (pid {pid})" for pid in self.ctx.supervisor.pids_under(self.reshard_dir)]
        self.ctx.supervisor.kill_everything_under(self.reshard_dir)
        markers = sorted({m for a in self._reachable() for m in open_slots(self.command(a, "CLUSTER", "NODES"))})
        if markers:
            self.cluster_tool(["fix", self.entry_node(), "--cluster-yes"],
                               "closing slots a cut-short reshard left open", timeout)
            done.append(f"closed open Redis slots {' '.join(markers[:4])}{' ...' if len(markers) > 4 else ''}")
        return done

    def entry_node(self) -> str:
        """A node redis-cli can load the cluster from (it asks that node for the rest)."""
        reachable = self._reachable()
        if not reachable:
            raise CommandFailed("no Redis node answers: cannot reach the cluster to move its slots")
        return reachable[0]

    def _reachable(self) -> list[str]:
        out = []
        for address in self.addresses():
            try:
                self.command(address, "PING")
            except redis.RedisError:
                continue
            out.append(address)
        return out

    def cluster_tool(self, args: list[str], what: str, timeout: float) -> None:
        cli = find_binary("redis-cli", CLI_PACKAGE)
        make_dir(self.ctx.user, self.reshard_dir)
        run_tool(
            self.ctx.user,
            [cli, *cli_args(self.ctx), "--cluster", *args],
            what,
            env=cli_env(self.ctx),  # never the password in argv
            cwd=self.reshard_dir,  # so a killed harness's leftover can be found and stopped
            timeout=timeout * timeout_multiplier(),
        )

    def wait_slots_settled(self, timeout: float) -> None:
        wait_until(self._slots_settled, timeout, "the Redis Cluster to agree on its slots, ok with all 16384 served")

    def _slots_settled(self) -> tuple[bool, str]:
        """Every node answers with cluster_state ok, no slot is left open, all slots are served, and
        every node's view gives each master the same slots (replicas learn the moves by gossip)."""
        views: dict[str, dict[str, str]] = {}
        problems = []
        for address in self.addresses():
            try:
                text = self.command(address, "CLUSTER", "NODES")
                state = parse_info(self.command(address, "CLUSTER", "INFO")).get("cluster_state")
            except redis.RedisError as exc:
                problems.append(f"{address}: {exc}")
                continue
            if state != "ok":
                problems.append(f"{address} cluster_state {state}")
            if open_slots(text):
                problems.append(f"{address} has open slots {' '.join(open_slots(text)[:3])}")
            if covered_slots(text) != TOTAL_SLOTS:
                problems.append(f"{address} sees {covered_slots(text)}/{TOTAL_SLOTS} slots served")
            views[address] = {n.node_id: str(n.slots) for n in parse_cluster_nodes(text) if n.role == "master"}
        if len({tuple(sorted(v.items())) for v in views.values()}) > 1:
            problems.append("the nodes disagree about who serves which slots")
        return not problems, "; ".join(problems) or "ok"

    def _health(self) -> tuple[bool, str]:
        """Every node says ok, all slots are served and each master has one replica with its link up."""
        problems = []
        for address in self.addresses():
            try:
                state = parse_info(self.command(address, "CLUSTER", "INFO")).get("cluster_state")
            except redis.RedisError as exc:
                state = str(exc)
            if state != "ok":
                problems.append(f"{address} cluster_state {state}")
        status = self.status()
        if status.slots_covered != TOTAL_SLOTS:
            problems.append(f"{status.slots_covered}/{TOTAL_SLOTS} slots covered")
        masters = [n for n in status.nodes if n.role == "master" and n.slots and n.connected]
        if len(masters) != MASTERS:
            problems.append(f"{len(masters)} serving masters")
        for master in masters:
            replicas = [n for n in status.nodes if n.master_id == master.node_id and n.connected]
            linked = [r for r in replicas if self._link_up(r.address)]
            if len(linked) != 1:
                problems.append(f"master {master.address} has {len(linked)} replica(s) with the link up")
        return not problems, "; ".join(problems) or "ok"

    def _link_up(self, address: str) -> bool:
        try:
            with self.client(address) as r:
                return r.info("replication").get("master_link_status") == "up"
        except redis.RedisError:
            return False

    def status(self) -> RedisStatus:
        """The cluster as seen by the first reachable node whose cluster_state is ok (else any reachable one).

        A node that just restarted may still hold a stale view, so an `ok` view is preferred. With no
        node reachable, cluster_state is "unreachable" and there are no nodes.
        """
        fallback: RedisStatus | None = None
        for address in self.addresses():
            try:
                text = self.command(address, "CLUSTER", "NODES")
                info = parse_info(self.command(address, "CLUSTER", "INFO"))
            except redis.RedisError:
                continue
            seen = RedisStatus(parse_cluster_nodes(text), info.get("cluster_state", "fail"), covered_slots(text))
            if seen.cluster_state == "ok":
                return seen
            fallback = fallback or seen
        return fallback or RedisStatus(nodes=[], cluster_state="unreachable", slots_covered=0)

    def client(self, address: str, timeout: float = 2.0) -> redis.Redis:
        """A client for one node as the harness's admin user, over TLS, without redis-py's silent retries."""
        return node_client(self.ctx, self._port(address), timeout=timeout)

    def command(self, address: str, *args: str) -> str:
        with self.client(address) as r:
            return r.execute_command(*args)  # "CLUSTER", "NODES": no redis-py parsing of the reply

    def kill_node(self, address: str) -> None:
        """SIGKILL the node's whole tree at once, like a pod being killed; returns once nothing is left."""
        node_dir = self.node_dir(address)
        self.ctx.supervisor.signal_under(node_dir, signal.SIGKILL)

        def gone() -> tuple[bool, list[int]]:
            left = self.ctx.supervisor.pids_under(node_dir)
            return not left, left

        wait_until(gone, 10.0, f"Redis node {address} to exit after SIGKILL", interval=0.05)
        self.ctx.supervisor.pid_of(self.process_name(address))  # reaps our child so no zombie lingers

    def freeze_node(self, address: str) -> None:
        """SIGSTOP the node: its sockets stay open but it answers nothing, as in a hung host."""
        self.ctx.supervisor.freeze_under(self.node_dir(address))

    def thaw_node(self, address: str) -> None:
        self.ctx.supervisor.signal_under(self.node_dir(address), signal.SIGCONT)


def _left(deadline: float) -> float:
    """What remains of a shared deadline, in the unscaled seconds wait_until expects."""
    return max(deadline - time.monotonic(), 0.5) / timeout_multiplier()
