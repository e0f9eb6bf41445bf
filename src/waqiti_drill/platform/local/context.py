"""What every part of the embedded stack needs: settings, secrets, the run user, TLS files, paths."""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from waqiti_drill.config import Settings
from waqiti_drill.errors import MissingBinary, PortInUse
from waqiti_drill.platform.local.netplan import NetworkPlan, plan_network
from waqiti_drill.platform.local.runas import RunAs
from waqiti_drill.platform.local.supervisor import Supervisor
from waqiti_drill.platform.local.tls import TlsFiles, tls_files
from waqiti_drill.secrets import Secrets


@dataclass
class LocalContext:
    settings: Settings
    secrets: Secrets
    user: RunAs
    supervisor: Supervisor

    @property
    def state_dir(self) -> Path:
        return self.settings.state_dir

    @property
    def tls(self) -> TlsFiles:
        return tls_files(self.state_dir)

    @property
    def host(self) -> str:
        """Where clients reach the stack (HAProxy, Redis, S3): always loopback."""
        return self.settings.host

    @property
    def net(self) -> NetworkPlan:
        return plan_network(self.settings)

    @property
    def dcs_host(self) -> str:
        """Where the members reach etcd and the object store: the bridge's address, or loopback."""
        return self.net.host_address


def find_binary(name: str, package: str, extra_dirs: tuple[str, ...] = ()) -> str:
    """Absolute path of `name`, or MissingBinary naming the package that provides it."""
    for d in extra_dirs:
        candidate = Path(d) / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        raise MissingBinary(f"'{name}' not found: install {package}")
    return found


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def require_ports_free(host: str, ports: dict[str, int], owner: str) -> None:
    """Before starting `owner`, every port it will listen on must be free."""
    for name, port in ports.items():
        if not port_free(host, port):
            raise PortInUse(
                f"port {port} ({name}) on {host} is already in use by another process; "
                f"free it or give {owner} another port in the config file [ports] section"
            )


