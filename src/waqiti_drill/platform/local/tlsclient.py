"""The harness as a TLS client of the control plane (etcd, Patroni's REST API).

Both servers require a client certificate of the stack's CA, so every request the harness makes to
them goes through here: the CA verifies the server (by the address in the URL, which the server
certificate names), the client certificate authenticates the harness, and TLS 1.2 is the floor on
our side too. Secrets (the REST API's basic-auth password) travel in headers only, never in URLs.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from functools import lru_cache

from waqiti_drill.platform.local.tls import TlsFiles


def client_context(tls: TlsFiles) -> ssl.SSLContext:
    """An SSL context that verifies the stack's servers and presents the client certificate."""
    stamp = tuple(p.stat().st_mtime_ns for p in (tls.ca_cert, tls.client_cert, tls.client_key))
    return _context(str(tls.ca_cert), str(tls.client_cert), str(tls.client_key), stamp)


@lru_cache(maxsize=8)
def _context(ca: str, cert: str, key: str, stamp: tuple[int, ...]) -> ssl.SSLContext:
    """Cached per file set and modification time: the live view polls every second, and a new set
    (a purged and recreated stack in the same process, as the tests do) gets a new context."""
    del stamp
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


def request(tls: TlsFiles, url: str, timeout: float, body: dict | None = None,
            headers: dict[str, str] | None = None) -> bytes:
    """GET `url` (POST with `body` as JSON) over mutual TLS; the answer's bytes.

    Raises OSError (urllib.error.URLError, HTTPError, ssl.SSLError, a timeout) as urllib does.
    """
    data = json.dumps(body).encode() if body is not None else None
    all_headers = {"Content-Type": "application/json"} if data is not None else {}
    all_headers.update(headers or {})
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET", headers=all_headers)
    with urllib.request.urlopen(req, timeout=timeout, context=client_context(tls)) as resp:
        return resp.read()


def get_json(tls: TlsFiles, url: str, timeout: float) -> dict:
    """GET `url` over mutual TLS; the decoded JSON object (ValueError when it is not JSON)."""
    return json.loads(request(tls, url, timeout))
