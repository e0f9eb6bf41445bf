"""Scaling the Redis Cluster out and back: a seventh node added as a master, slots rebalanced onto it
while clients write, then its slots moved off again and the node removed.

The spec's cluster is 3 masters + 3 replicas, and that is what `up` builds and health requires; the
spare node exists only for the length of the "add a master and rebalance" drill. While it serves
slots the platform is not healthy (four serving masters), so a drill killed half-way is repaired by
`drill heal`, which removes it (`remove_added_masters`).
"""

from __future__ import annotations

import shutil

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from waqiti_drill.platform.local.context import LocalContext, find_binary, require_ports_free
from waqiti_drill.platform.local.redis_cluster import (
    PACKAGE,
    RedisCluster,
    parse_cluster_nodes,
    parse_info,
    render_conf,
)
from waqiti_drill.platform.local.runas import make_dir, write_file
from waqiti_drill.platform.local.supervisor import ProcessSpec
from waqiti_drill.waiting import wait_until


class RedisSpare:
    def __init__(self, ctx: LocalContext) -> None:
        self.ctx = ctx
        self.cluster = RedisCluster(ctx)
        self.port = ctx.settings.ports.redis_spare
        self.bus = ctx.settings.ports.redis_spare_bus
        self.address = f"{ctx.host}:{self.port}"
        self.dir = ctx.state_dir / "redis" / str(self.port)
        self.process = f"redis-{self.port}"

    def _client(self) -> redis.Redis:
        return redis.Redis(host=self.ctx.host, port=self.port, password=self.ctx.secrets.redis_password,
                           socket_timeout=2, socket_connect_timeout=2, decode_responses=True,
                           retry=Retry(NoBackoff(), 0))

    def node_id(self) -> str | None:
        """The spare's id as the cluster knows it, None when no node of the cluster knows it."""
        for node in self.cluster.status().nodes:
            if node.address == self.address:
                return node.node_id
        return None

    def add_master(self, timeout: float = 600.0) -> str:
        """Start the spare, join it as an empty master, rebalance slots onto it; returns its address."""
        if self.node_id() is not None:
            raise_in_use(self.address)
        require_ports_free(self.ctx.host, {self.process: self.port, f"{self.process} bus": self.bus},
                           "the added Redis master")
        if self.dir.exists():
            shutil.rmtree(self.dir)  # a fresh node: no nodes.conf of an earlier membership
        make_dir(self.ctx.user, self.dir)
        write_file(self.ctx.user, self.dir / "redis.conf",
                   render_conf(self.ctx.host, self.port, self.bus, self.dir, self.ctx.secrets.redis_password))
        server = find_binary("redis-server", PACKAGE)
        self.ctx.supervisor.start(ProcessSpec(name=self.process, argv=[server, str(self.dir / "redis.conf")],
                                              cwd=self.dir))
        wait_until(lambda: (bool(self._client().ping()), "PONG"), 30, f"the added Redis node {self.address}")
        self.cluster.cluster_tool(["add-node", self.address, self.cluster.entry_node()],
                                  f"adding {self.address} to the Redis Cluster as a master", timeout)
        wait_until(self._known_everywhere, 60, f"every Redis node to know {self.address}, and it to see the cluster ok")
        self.cluster.rebalance(timeout)  # --cluster-use-empty-masters: the new master takes its share
        return self.address

    def _known_everywhere(self) -> tuple[bool, str]:
        def knows(address: str) -> bool:
            return self.address in {n.address for n in parse_cluster_nodes(self.cluster.command(address, "CLUSTER",
                                                                                                "NODES"))}

        missing = [a for a in self.cluster.addresses() if not knows(a)]
        if missing:
            return False, f"not yet known to {', '.join(missing)}"
        # The new node must see the cluster ok itself, or MIGRATE to it fails with CLUSTERDOWN (CI saw it).
        with self._client() as r:
            info = r.execute_command("CLUSTER", "INFO")
        state = parse_info(info)
        known = state.get("cluster_known_nodes")
        ok = state.get("cluster_state") == "ok" and known == str(len(self.cluster.addresses()) + 1)
        return ok, f"{self.address} cluster_state {state.get('cluster_state')}, knows {known} node(s)"

    def remove(self, timeout: float = 600.0) -> list[str]:
        """Move the spare's slots back to the three masters and remove it; idempotent. What was done."""
        done: list[str] = []
        node_id = self.node_id()
        if node_id is not None:
            self.cluster.close_open_slots(timeout)
            serving = any(n.slots for n in self.cluster.status().nodes if n.node_id == node_id)
            if serving:
                self.cluster.cluster_tool(["rebalance", self.cluster.entry_node(), "--cluster-weight", f"{node_id}=0"],
                                          f"moving the slots of {self.address} back to the other masters", timeout)
                self.cluster.wait_slots_settled(timeout)
                done.append(f"moved the slots of the added Redis master {self.address} back")
            self.cluster.cluster_tool(["del-node", self.cluster.entry_node(), node_id],
                                      f"removing {self.address} from the Redis Cluster", timeout)
            done.append(f"removed the added Redis master {self.address}")
            self.cluster.wait_slots_settled(timeout)
        if self.ctx.supervisor.pid_of(self.process):
            self.ctx.supervisor.stop([self.process], 5.0)
        self.ctx.supervisor.kill_everything_under(self.dir)
        if self.dir.exists():
            shutil.rmtree(self.dir)
        return done


def raise_in_use(address: str) -> None:
    from waqiti_drill.errors import InvalidConfig

    raise InvalidConfig(f"the spare Redis node {address} is already in the cluster; 'drill heal' removes it")
