"""A host outside the platform's allowed addresses, and what it can reach (the network-policy check).

`Outsider` puts a namespace of its own on the stack's bridge at `.250`, an address no policy allows, runs
`probe` inside it, and removes it again. The probe (this module run as a program, standard library only)
tries each target and reports what it saw:

- mode "tcp": refused when no TCP connection could be made (reset, timeout) or the listener closed it at
  once without a byte (HAProxy's source ACL); a connection that stays open is "connected": not refused.
- mode "mtls": the listener is reachable by design (etcd, for the members), so the refusal asked for is
  TLS's: without a client certificate of the stack's CA no request is answered.

The job comes on stdin as JSON, never in argv; nothing secret is in it (a CA certificate's path).
"""

from __future__ import annotations

import errno
import json
import socket
import ssl
import sys
from dataclasses import dataclass
from types import TracebackType

CONNECT_TIMEOUT = 3.0
QUIET_SECONDS = 1.0  # a listener that closes on sight does so at once; one that waits for the client stays open


@dataclass(frozen=True)
class Target:
    name: str
    host: str
    port: int
    mode: str  # "tcp" | "mtls"


def _tcp(host: str, port: int) -> tuple[bool, str]:
    try:
        sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    except TimeoutError:
        return True, "no answer (dropped)"
    except ConnectionRefusedError:
        return True, "connection refused (TCP reset)"
    except OSError as exc:
        return True, f"no connection ({errno.errorcode.get(exc.errno or 0, exc.errno)})"
    with sock:
        sock.settimeout(QUIET_SECONDS)
        try:
            data = sock.recv(1)
        except TimeoutError:
            return False, "connected: the listener accepted the connection and waited for the client"
        except OSError as exc:
            return True, f"closed by the listener at once ({exc.__class__.__name__})"
    return (True, "closed by the listener at once, before any byte") if not data else (
        False, "connected: the listener spoke first")


def _mtls(host: str, port: int, ca_file: str) -> tuple[bool, str]:
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = False  # the address is the bridge's; the point here is the client certificate
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT) as raw, \
                context.wrap_socket(raw) as tls:
            tls.settimeout(CONNECT_TIMEOUT)
            tls.sendall(f"GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            answer = tls.recv(64)
    except ssl.SSLError as exc:
        return True, f"TLS refused without a client certificate ({exc.reason or exc.__class__.__name__})"
    except (ConnectionResetError, BrokenPipeError) as exc:
        return True, f"TLS refused without a client certificate ({exc.__class__.__name__})"
    except TimeoutError:
        return True, "no answer (dropped)"
    except ConnectionRefusedError:
        return True, "connection refused (TCP reset)"
    except OSError as exc:
        return True, f"no connection ({exc.__class__.__name__})"
    if not answer:
        return True, "TLS closed without an answer (no client certificate)"
    return False, f"answered without a client certificate: {answer[:30]!r}"


def probe(job: dict) -> list[dict]:
    out = []
    for item in job["targets"]:
        t = Target(**item)
        refused, said = _mtls(t.host, t.port, job["ca_file"]) if t.mode == "mtls" else _tcp(t.host, t.port)
        out.append({"target": f"{t.name} {t.host}:{t.port}", "refused": refused, "said": said})
    return out


class Outsider:
    """The outsider's namespace, for one `with` block (root, `netns` mode)."""

    def __init__(self, plan: object) -> None:
        from waqiti_drill.platform.local.netpolicy import outsider_address, outsider_names

        self.plan = plan
        self.address = outsider_address(plan)  # type: ignore[arg-type]
        self.ns, self.veth = outsider_names(plan)  # type: ignore[arg-type]

    def _ip(self, *args: str, what: str, check: bool = True) -> None:
        from waqiti_drill.platform.local.commands import run_privileged
        from waqiti_drill.platform.local.netns import ip_binary

        run_privileged([ip_binary(), *args], what, check=check)

    def __enter__(self) -> Outsider:
        import ipaddress

        self.__exit__(None, None, None)  # a leftover of a run that died
        prefix_len = ipaddress.IPv4Network(self.plan.subnet).prefixlen  # type: ignore[attr-defined]
        self._ip("netns", "add", self.ns, what=f"creating the outsider's namespace {self.ns}")
        self._ip("link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.ns,
                 what="creating the outsider's veth pair")
        self._ip("link", "set", self.veth, "master", str(self.plan.bridge), "up",  # type: ignore[attr-defined]
                 what="attaching the outsider to the bridge")
        self._ip("-n", self.ns, "addr", "add", f"{self.address}/{prefix_len}", "dev", "eth0",
                 what="addressing the outsider")
        self._ip("-n", self.ns, "link", "set", "eth0", "up", what="bringing up the outsider's interface")
        self._ip("-n", self.ns, "link", "set", "lo", "up", what="bringing up the outsider's loopback")
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._ip("netns", "del", self.ns, what=f"deleting {self.ns}", check=False)
        self._ip("link", "del", self.veth, what=f"deleting {self.veth}", check=False)

    def probe(self, targets: list[Target], ca_file: str) -> list[dict]:
        from dataclasses import asdict

        from waqiti_drill.platform.local.commands import run_privileged
        from waqiti_drill.platform.local.netns import ip_binary

        job = json.dumps({"ca_file": ca_file, "targets": [asdict(t) for t in targets]})
        result = run_privileged([ip_binary(), "netns", "exec", self.ns, sys.executable, "-I", "-m",
                                 "waqiti_drill.platform.local.outsider"], "probing from the outsider's namespace",
                                input_text=job)
        return json.loads(result.stdout)


if __name__ == "__main__":
    json.dump(probe(json.load(sys.stdin)), sys.stdout)
