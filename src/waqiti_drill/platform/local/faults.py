"""The local platform's fault primitives (NodeFaults): processes killed, stopped, frozen; partitions.

Mixed into LocalPlatform, which provides `settings`, `supervisor` and `context()`. Each primitive
returns once its effect is in force, so the caller's clock marks the moment the fault began.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

from waqiti_drill.config import Settings
from waqiti_drill.errors import InvalidConfig, Unsupported
from waqiti_drill.platform.local.disks import MemberDisks
from waqiti_drill.platform.local.etcd import Etcd
from waqiti_drill.platform.local.layout import member
from waqiti_drill.platform.local.netns import StackNetwork
from waqiti_drill.platform.local.netpolicy import MemberPolicy
from waqiti_drill.platform.local.objectstore import ObjectStore
from waqiti_drill.platform.local.partition import Partitions
from waqiti_drill.platform.local.patroni import PatroniCluster, process_name
from waqiti_drill.platform.local.redis_cluster import RedisCluster
from waqiti_drill.platform.local.supervisor import Supervisor
from waqiti_drill.waiting import wait_until

if TYPE_CHECKING:
    from waqiti_drill.platform.local.context import LocalContext


class LocalFaults:
    # Provided by LocalPlatform, which this class is mixed into.
    settings: Settings
    supervisor: Supervisor
    context: Callable[..., LocalContext]

    # ----- PostgreSQL members as processes ---------------------------------------------------------
    def kill_member(self, name: str) -> None:
        """Patroni and the whole postgres process tree at once, like a pod kill; returns when all are gone."""
        base = member(self.settings, name).base
        self.supervisor.signal_under(base, signal.SIGKILL)

        def gone() -> tuple[bool, list[int]]:
            left = self.supervisor.signal_under(base, signal.SIGKILL)
            return not left, left

        wait_until(gone, 10.0, f"every process of member {name} to exit after SIGKILL", interval=0.05)

    def stop_member(self, name: str) -> None:
        self.supervisor.stop([process_name(member(self.settings, name))], 30.0)

    def start_member(self, name: str) -> None:
        location = member(self.settings, name)
        if location.netns:
            StackNetwork(self.context().net).ensure()
        PatroniCluster(self.context()).start_member(location)

    def freeze_member(self, name: str) -> None:
        self.supervisor.freeze_under(member(self.settings, name).base)

    def thaw_member(self, name: str) -> None:
        self.supervisor.signal_under(member(self.settings, name).base, signal.SIGCONT)

    def switchover(self, candidate: str | None = None) -> None:
        if candidate is not None:
            member(self.settings, candidate)  # an unknown name fails listing the valid ones
        PatroniCluster(self.context()).switchover(candidate)

    # ----- the DCS as a process: crashed (SIGKILL) or hung (SIGSTOP), and back --------------------
    def kill_dcs(self) -> None:
        Etcd(self.context()).kill()

    def start_dcs(self) -> None:
        etcd = Etcd(self.context())
        etcd.start()
        etcd.wait_ready(30)

    def freeze_dcs(self) -> None:
        Etcd(self.context()).freeze()

    def thaw_dcs(self) -> None:
        Etcd(self.context()).thaw()

    # ----- network partitions (netns mode; see partition.py) ----------------------------------------
    def _partitions(self) -> Partitions:
        net = self.context().net
        if not net.isolated:
            raise Unsupported(
                "network partitions need the members in network namespaces, which only root can make: "
                "run the harness as root (with network = \"auto\" or \"netns\")"
            )
        return Partitions(net, self.settings.ports.etcd_client)

    def isolate_member(self, name: str) -> None:
        """Nothing in or out of the member's namespace but its loopback; its processes keep running."""
        member(self.settings, name)
        self._partitions().isolate_member(name)

    def reconnect_member(self, name: str) -> None:
        member(self.settings, name)
        self._partitions().reconnect_member(name)

    def isolate_dcs(self) -> None:
        """etcd unreachable from every member (the harness still reaches it on loopback); etcd keeps running."""
        self._partitions().isolate_dcs()

    def reconnect_dcs(self) -> None:
        self._partitions().reconnect_dcs()

    def heal_network(self) -> list[str]:
        """Remove every partition rule of this stack, and put back a network policy found missing; one line
        per rule removed or policy restored. Nothing to do on loopback."""
        net = self.context().net
        if not net.isolated:
            return []
        return self._partitions().heal() + MemberPolicy(net).ensure()

    def network_faults(self) -> list[str]:
        """The isolations the kernel enforces now, e.g. ['member pg1', 'dcs']; always [] on loopback."""
        return self._partitions().faults() if self.context().net.isolated else []

    # ----- a full disk (root: each member has its own bounded filesystem; see disks.py) ------------
    def _disks(self) -> MemberDisks:
        return MemberDisks(self.settings, self.context().user)

    def fill_disk(self, name: str) -> int:
        """Fill the filesystem holding the member's PGDATA and pg_wal to the last block; bytes written."""
        member(self.settings, name)
        return self._disks().fill(name)

    def free_disk(self, name: str) -> None:
        """Remove the filler from the member's filesystem; nothing to do when there is none."""
        member(self.settings, name)
        self._disks().free(name)

    def disk_faults(self) -> list[str]:
        """Members whose filesystem holds a filler now, e.g. ['pg1']."""
        return self._disks().filled()

    # ----- Redis nodes as processes -----------------------------------------------------------------
    def _redis(self, address: str) -> RedisCluster:
        redis = RedisCluster(self.context())
        if address not in redis.addresses():
            raise InvalidConfig(f"unknown Redis node '{address}'; valid: {', '.join(redis.addresses())}")
        return redis

    def kill_redis_node(self, address: str) -> None:
        self._redis(address).kill_node(address)

    def start_redis_node(self, address: str) -> None:
        self._redis(address).start_node(address)

    def freeze_redis_node(self, address: str) -> None:
        self._redis(address).freeze_node(address)

    def thaw_redis_node(self, address: str) -> None:
        self._redis(address).thaw_node(address)

    # ----- whole services, and the sweep after a killed drill ---------------------------------------
    def resume_all(self) -> list[str]:
        """SIGCONT every stopped process of the stack (what a killed freeze left), then resume paused WAL replay
        and release held connections (what a killed monitoring drill left); names what it did."""
        stopped = self.supervisor.stopped_under(self.settings.state_dir)
        self.supervisor.signal_under(self.settings.state_dir, signal.SIGCONT)
        return stopped + self.undo_monitoring_faults()  # type: ignore[attr-defined] - LocalMonitoring

    def stop_object_store(self) -> None:
        """The S3 store goes away (its process tree stopped), as when the bucket's region is down."""
        ObjectStore(self.context()).stop()

    def object_store_answers(self) -> bool:
        """HEAD of the backup bucket over TLS with the real keys, without retries."""
        store = ObjectStore(self.context())
        try:
            store.client(fast_fail=True).head_bucket(Bucket=self.settings.backup.bucket)
        except Exception:  # noqa: BLE001 - any failure means the store does not answer
            return False
        return True

    def start_object_store(self) -> None:
        store = ObjectStore(self.context())
        store.start()
        store.wait_ready(60)
