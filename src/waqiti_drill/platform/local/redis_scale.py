"""Growing the Redis Cluster by one master (and its replica) under load, and shrinking it back.

The spec's cluster is six nodes; a drill adds a seventh (a master) and an eighth (its replica) on the
ports right after the six (client and bus: the highest of each plus 1 and 2), so nothing about the
stack's recorded configuration changes. `add_master` joins them (`redis-cli --cluster add-node`),
then rebalances with the empty master included; `remove_added` is its undo (the heal): the slots are
moved off the added master (rebalance with its weight 0), both nodes leave the cluster (`del-node`,
which also shuts them down) and their directories are wiped, so the cluster is the spec's six again.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import redis

from waqiti_drill.errors import CommandFailed
from waqiti_drill.platform.local.context import LocalContext, find_binary, require_ports_free
from waqiti_drill.platform.local.redis_access import node_client
from waqiti_drill.platform.local.redis_cluster import PACKAGE, RedisCluster, parse_info
from waqiti_drill.platform.local.redis_conf import render_conf
from waqiti_drill.platform.local.runas import make_dir, write_file
from waqiti_drill.platform.local.supervisor import ProcessSpec
from waqiti_drill.waiting import wait_until

TIMEOUT = 300.0


class RedisScaler:
    def __init__(self, ctx: LocalContext) -> None:
        self.ctx = ctx
        self.cluster = RedisCluster(ctx)
        ports = ctx.settings.ports
        self.spares = [(max(ports.redis) + i, max(ports.redis_bus) + i) for i in (1, 2)]

    def addresses(self) -> list[str]:
        return [f"{self.ctx.host}:{port}" for port, _ in self.spares]

    def _dir(self, port: int) -> Path:
        return self.ctx.state_dir / "redis" / str(port)

    def _client(self, port: int) -> redis.Redis:
        return node_client(self.ctx, port)

    def _node_id(self, port: int) -> str:
        with self._client(port) as r:
            return str(r.execute_command("CLUSTER", "MYID"))

    def _start(self, port: int, bus: int) -> None:
        """A fresh node: a wiped directory, the same redis.conf as the six (TLS only, the same ACL users),
        started by the supervisor."""
        name = f"redis-{port}"
        require_ports_free(self.ctx.host, {name: port, f"{name} cluster bus": bus}, f"spare Redis node {port}")
        shutil.rmtree(self._dir(port), ignore_errors=True)
        node_dir = make_dir(self.ctx.user, self._dir(port))
        write_file(self.ctx.user, node_dir / "redis.conf",
                   render_conf(self.ctx.host, port, bus, node_dir, self.ctx.secrets, self.ctx.tls))
        self.ctx.supervisor.start(ProcessSpec(name=name, argv=[find_binary("redis-server", PACKAGE),
                                                               str(node_dir / "redis.conf")], cwd=node_dir))

        def answers() -> tuple[bool, str]:
            with self._client(port) as r:
                return bool(r.ping()), "ping"

        wait_until(answers, 30.0, f"the spare Redis node {port} to answer")

    def add_master(self, timeout: float = TIMEOUT) -> str:
        """Join a new master and its replica, rebalance onto the master; returns the master's address."""
        (mport, mbus), (rport, rbus) = self.spares
        entry = self.cluster.entry_node()
        self._start(mport, mbus)
        self._start(rport, rbus)
        master, replica = self.addresses()
        self.cluster.cluster_tool(["add-node", master, entry], f"adding {master} as a master", timeout)
        self._wait_known(mport, timeout)
        self.cluster.cluster_tool(["add-node", replica, entry, "--cluster-slave", "--cluster-master-id",
                                    self._node_id(mport)], f"adding {replica} as its replica", timeout)
        self._wait_known(rport, timeout)
        self.cluster.rebalance(timeout)  # --cluster-use-empty-masters: the new master gets its share
        return master

    def _wait_known(self, port: int, timeout: float) -> None:
        """Until every one of the six lists the node (gossip), so the next redis-cli step sees it."""
        node_id = self._node_id(port)

        def known() -> tuple[bool, str]:
            missing = [a for a in self.cluster.addresses()
                       if node_id not in self.cluster.command(a, "CLUSTER", "NODES")]
            return not missing, f"not yet known to {', '.join(missing)}" if missing else "known"

        wait_until(known, timeout, f"every node to know the added node {port}")

        def sees_ok() -> tuple[bool, str]:
            # The new node must see the cluster ok itself, or a MIGRATE to it fails with CLUSTERDOWN (seen here).
            with self._client(port) as r:
                state = parse_info(r.execute_command("CLUSTER", "INFO")).get("cluster_state")
            return state == "ok", f"node {port} cluster_state {state}"

        wait_until(sees_ok, timeout, f"the added node {port} to see the cluster ok")

    def remove_added(self, timeout: float = TIMEOUT) -> list[str]:
        """The undo: slots off the added master, both nodes out of the cluster and stopped. Idempotent."""
        done: list[str] = []
        ids = {port: self._maybe_id(port) for port, _ in self.spares}
        entry = self.cluster.entry_node()
        master_id = ids[self.spares[0][0]]
        if master_id and master_id in self.cluster.command(entry, "CLUSTER", "NODES"):
            self.cluster.cluster_tool(["rebalance", entry, "--cluster-weight", f"{master_id}=0"],
                                       "moving the slots off the added Redis master", timeout)
            self.cluster.wait_slots_settled(timeout)
            done.append("moved the slots off the added Redis master")
        for port, node_id in sorted(ids.items(), reverse=True):  # the replica first
            if node_id and node_id in self.cluster.command(entry, "CLUSTER", "NODES"):
                self.cluster.cluster_tool(["del-node", entry, node_id], f"removing node {port}", timeout)
                done.append(f"removed Redis node {self.ctx.host}:{port} from the cluster")
        names = [f"redis-{port}" for port, _ in self.spares]
        running = [n for n in names if self.ctx.supervisor.pid_of(n)]
        self.ctx.supervisor.stop(names, 5.0)
        done += [f"stopped {n}" for n in running]
        for port, _ in self.spares:
            shutil.rmtree(self._dir(port), ignore_errors=True)
        self._forget_everywhere([i for i in ids.values() if i])
        return done

    def _maybe_id(self, port: int) -> str | None:
        try:
            return self._node_id(port)
        except redis.RedisError:
            return self._id_from_config(port)

    def _id_from_config(self, port: int) -> str | None:
        """A spare that no longer answers is still named in the six's view by its address."""
        for node in self.cluster.status().nodes:
            if node.address == f"{self.ctx.host}:{port}":
                return node.node_id
        return None

    def _forget_everywhere(self, node_ids: list[str]) -> None:
        """del-node makes the others forget the node; a view that still lists it is told again."""
        for address in self.cluster.addresses():
            for node_id in node_ids:
                try:
                    if node_id in self.cluster.command(address, "CLUSTER", "NODES"):
                        self.cluster.command(address, "CLUSTER", "FORGET", node_id)
                except redis.RedisError as exc:
                    if "Unknown node" not in str(exc):
                        raise CommandFailed(f"{address} could not forget the removed node {node_id}: {exc}") from exc
