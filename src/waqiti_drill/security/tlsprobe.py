"""Probes of an endpoint's transport security, read from the live server: does it refuse plain text, and
which TLS handshakes does it complete?

The security drill asks every endpoint the same two questions, so the answers come from what the
server actually does on the wire, not from its configuration:

- `plaintext_refused`: speak the endpoint's protocol without TLS and see whether the server serves it.
- `tls_handshake`: a TLS handshake with a chosen highest version and an optional client certificate.

For a TLS 1.1 attempt the client allows every cipher at OpenSSL security level 0, so a refusal is the
server's and never this machine's own OpenSSL policy (Debian's OpenSSL 3 would otherwise refuse TLS 1.1
before a byte is sent); the unit tests show the same probe completing TLS 1.1 with a server that
allows it, so it can tell the two apart.
"""

from __future__ import annotations

import socket
import ssl
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

PROTOCOLS = ("http", "postgres", "redis")
TLS13_ALERT_WAIT = 0.5  # seconds: how long a TLS 1.3 server has to reject the client's certificate
PG_SSL_REQUEST = struct.pack("!ii", 8, 80877103)
ClientCert = tuple[str | Path, str | Path] | str | Path  # (certificate, key), or one PEM with both


@dataclass(frozen=True)
class Handshake:
    """A handshake's outcome: the negotiated version (e.g. "TLSv1.2"), or why it failed."""

    version: str | None
    cipher: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.version is not None

    def __str__(self) -> str:
        return f"{self.version} ({self.cipher})" if self.ok else f"refused: {self.error}"


def plaintext_refused(host: str, port: int, protocol: str, timeout: float = 5.0) -> tuple[bool, str]:
    """Whether the server refuses to serve `protocol` without TLS, and what it said.

    - http: a plain GET gets no HTTP answer, or only the 400 a TLS server (Go's, nginx's) gives to
      say it speaks HTTPS; any other HTTP status means plain HTTP is served.
    - postgres: a plain StartupMessage gets an ErrorResponse, never an authentication request.
    - redis: a plain PING gets no RESP reply (not even -NOAUTH, which would be plain text served).

    An endpoint that cannot be reached at all raises OSError: that is not a refusal of plain text.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}: one of {', '.join(PROTOCOLS)}")
    request = {
        "http": f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode(),
        "postgres": _pg_startup("tlsprobe", "postgres"),
        "redis": b"PING\r\n",
    }[protocol]
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request)
        answer = _read_some(sock, timeout)
    return {"http": _http_refused, "postgres": _pg_refused, "redis": _redis_refused}[protocol](answer)


def tls_handshake(host: str, port: int, ca_file: str | Path, max_version: ssl.TLSVersion | None = None,
                  client_cert: ClientCert | None = None, protocol: str = "tls",
                  timeout: float = 5.0) -> Handshake:
    """A TLS handshake with the server at host:port, verified against `ca_file` by `host`.

    `max_version` caps what the client offers (TLSv1_1 also lowers the client's floor and security
    level, see above). `protocol` "postgres" sends PostgreSQL's SSLRequest first (PostgreSQL 15 has no
    direct TLS). With TLS 1.3 the server checks the client certificate after the client has finished,
    so a successful 1.3 handshake waits briefly for the server's alert before counting as accepted.
    """
    ctx = ssl.create_default_context(cafile=str(ca_file))
    if max_version is not None:
        with warnings.catch_warnings():  # TLS 1.1 is deprecated: offering it is the point here
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.maximum_version = max_version
        if max_version < ssl.TLSVersion.TLSv1_2:
            ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    if client_cert is not None:
        cert, key = client_cert if isinstance(client_cert, tuple) else (client_cert, None)
        ctx.load_cert_chain(str(cert), str(key) if key else None)
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            if protocol == "postgres" and not _pg_ssl_accepted(raw):
                return Handshake(None, error="the server declined PostgreSQL's SSLRequest")
            with ctx.wrap_socket(raw, server_hostname=host) as tls:
                version, cipher = tls.version(), (tls.cipher() or ("?",))[0]
                if version == "TLSv1.3":
                    _await_rejection(tls)
                return Handshake(version, cipher)
    except (OSError, ssl.SSLError) as exc:
        return Handshake(None, error=_describe(exc))


def _await_rejection(tls: ssl.SSLSocket) -> None:
    """Raise when the server rejects the client after a TLS 1.3 handshake; a quiet wait is acceptance."""
    tls.settimeout(TLS13_ALERT_WAIT)
    try:
        data = tls.recv(1)
    except TimeoutError:
        return
    if not data:
        raise ConnectionError("the server closed the connection right after the handshake")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return f"{type(exc).__name__}: {exc.reason}"
    return f"{type(exc).__name__}: {exc}"


def _read_some(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    try:
        return sock.recv(4096)
    except TimeoutError:
        return b""
    except ConnectionResetError:
        return b""


def _http_refused(answer: bytes) -> tuple[bool, str]:
    if not answer.startswith(b"HTTP/"):
        return True, _show(answer, "no HTTP answer")
    status = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    says_tls = b"https" in answer.lower() or b"tls" in answer.lower()
    if " 400 " in f"{status} " and says_tls:
        return True, f"{status}: the server asks for TLS"
    return False, f"plain HTTP served: {status}"


def _pg_startup(user: str, database: str) -> bytes:
    params = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in (("user", user), ("database", database)))
    body = struct.pack("!i", 196608) + params + b"\0"  # protocol 3.0
    return struct.pack("!i", len(body) + 4) + body


def _pg_refused(answer: bytes) -> tuple[bool, str]:
    if answer[:1] == b"E":
        fields = answer[5:].split(b"\0")
        message = next((f[1:].decode(errors="replace") for f in fields if f[:1] == b"M"), "an error")
        return True, f"ErrorResponse: {message}"
    if answer[:1] == b"R":
        return False, "plain text served: the server asked for authentication"
    return True, _show(answer, "no PostgreSQL answer")


def _pg_ssl_accepted(sock: socket.socket) -> bool:
    sock.sendall(PG_SSL_REQUEST)
    return sock.recv(1) == b"S"


def _redis_refused(answer: bytes) -> tuple[bool, str]:
    if answer[:1] in (b"+", b"-", b":", b"$", b"*"):
        first = answer.split(b"\r\n", 1)[0].decode(errors="replace")
        return False, f"plain text served: {first}"
    return True, _show(answer, "no RESP answer")


def _show(answer: bytes, what: str) -> str:
    return f"{what} (connection closed)" if not answer else f"{what} ({len(answer)} bytes: {answer[:16]!r})"
