"""The TLS probe against throwaway real servers: it must tell a server that allows TLS 1.1, plain text or a
missing client certificate from one that refuses them, or the security drill's refusals mean nothing."""

from __future__ import annotations

import contextlib
import http.server
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from waqiti_drill.platform.local.runas import resolve_run_user
from waqiti_drill.platform.local.tls import TlsFiles, ensure_tls
from waqiti_drill.security.tlsprobe import plaintext_refused, tls_handshake

TLS11 = ssl.TLSVersion.TLSv1_1


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return ensure_tls(tmp_path_factory.mktemp("pki"), resolve_run_user("postgres"), ["127.0.0.1"], [])


def _server_context(pki: TlsFiles, allow_tls11: bool, require_client: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.cert, pki.key)
    if allow_tls11:
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if require_client:
        ctx.load_verify_locations(pki.ca_cert)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


@contextlib.contextmanager
def tls_server(ctx: ssl.SSLContext) -> Iterator[int]:
    """A TLS server that handshakes each connection and then holds it until the client leaves."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with contextlib.suppress(OSError), ctx.wrap_socket(conn, server_side=True) as tls:
            tls.settimeout(5)
            tls.recv(1)

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                conn, _ = listener.accept()
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_tls11_handshake_completes_with_a_server_that_allows_it(pki):
    with tls_server(_server_context(pki, allow_tls11=True, require_client=False)) as port:
        old = tls_handshake("127.0.0.1", port, pki.ca_cert, max_version=TLS11)
        new = tls_handshake("127.0.0.1", port, pki.ca_cert)
    assert old.ok and old.version == "TLSv1.1", old
    assert new.ok and new.version == "TLSv1.3", new


def test_tls11_handshake_is_refused_by_a_server_with_a_tls12_floor(pki):
    with tls_server(_server_context(pki, allow_tls11=False, require_client=False)) as port:
        old = tls_handshake("127.0.0.1", port, pki.ca_cert, max_version=TLS11)
        tls12 = tls_handshake("127.0.0.1", port, pki.ca_cert, max_version=ssl.TLSVersion.TLSv1_2)
    assert not old.ok and old.error, old
    assert tls12.version == "TLSv1.2", tls12


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_a_missing_client_certificate_is_told_from_a_good_one(pki, version):
    """With TLS 1.3 the server rejects the certificate only after the client finished: the probe waits."""
    with tls_server(_server_context(pki, allow_tls11=False, require_client=True)) as port:
        without = tls_handshake("127.0.0.1", port, pki.ca_cert, max_version=version)
        pair = tls_handshake("127.0.0.1", port, pki.ca_cert, max_version=version,
                             client_cert=(pki.client_cert, pki.client_key))
        pem = tls_handshake("127.0.0.1", port, pki.ca_cert, max_version=version, client_cert=pki.client_pem)
    assert not without.ok and "ALERT" in (without.error or ""), without  # the server's alert, not ours
    assert pair.ok and pem.ok and pair.version == version.name.replace("v1_", "v1."), (pair, pem)


def test_a_server_with_another_ca_fails_verification(pki, tmp_path):
    other = ensure_tls(tmp_path, resolve_run_user("postgres"), ["127.0.0.1"], [])
    with tls_server(_server_context(pki, allow_tls11=False, require_client=False)) as port:
        result = tls_handshake("127.0.0.1", port, other.ca_cert)
    assert not result.ok and "CERTIFICATE_VERIFY_FAILED" in (result.error or ""), result


def test_plain_http_is_told_from_https(pki):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        served, said = plaintext_refused("127.0.0.1", server.server_address[1], "http")
    finally:
        server.shutdown()
        server.server_close()
    assert not served and "HTTP/1.0 200" in said
    with tls_server(_server_context(pki, allow_tls11=False, require_client=False)) as port:
        refused, said = plaintext_refused("127.0.0.1", port, "http")
    assert refused and "no HTTP answer" in said


def test_nothing_listening_is_no_refusal_and_an_unknown_protocol_is_an_error():
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        plaintext_refused("127.0.0.1", port, "http")
    with pytest.raises(ValueError, match="unknown protocol 'smtp'"):
        plaintext_refused("127.0.0.1", port, "smtp")


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
@pytest.mark.parametrize("tls_only", [False, True])
def test_plain_redis_is_told_from_tls_only_redis(pki, tmp_path, tls_only):
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    listen = ["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(pki.cert), "--tls-key-file",
              str(pki.key), "--tls-ca-cert-file", str(pki.ca_cert)] if tls_only else ["--port", str(port)]
    argv = ["redis-server", "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path), *listen]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port)
        refused, said = plaintext_refused("127.0.0.1", port, "redis")
    finally:
        proc.kill()
        proc.wait()
    assert refused is tls_only, said
    assert ("no RESP answer" in said) if tls_only else ("+PONG" in said)


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@pytest.mark.parametrize(("protocol", "answer", "refused"), [
    # Go's (etcd's, SeaweedFS's) answer on a TLS port: HTTP, but only to say it wants TLS
    ("http", b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n", True),
    ("http", b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", False),  # plain HTTP served, even a 404
    ("http", b"", True),
    ("postgres", b"E\x00\x00\x00\x20SFATAL\x00C28000\x00Mno pg_hba.conf entry, no encryption\x00\x00", True),
    ("postgres", b"R\x00\x00\x00\x17\x00\x00\x00\x0aSCRAM-SHA-256\x00\x00", False),  # asked to authenticate
    ("redis", b"-NOAUTH Authentication required.\r\n", False),
    ("redis", b"\x15\x03\x01\x00\x02\x02\x46", True),  # a TLS alert record, not RESP
])
def test_answers_are_classified_as_the_servers_meant_them(protocol, answer, refused):
    from waqiti_drill.security import tlsprobe

    classify = {"http": tlsprobe._http_refused, "postgres": tlsprobe._pg_refused, "redis": tlsprobe._redis_refused}
    got, said = classify[protocol](answer)
    assert got is refused, said
