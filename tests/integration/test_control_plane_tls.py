"""The control plane's mutual TLS on the live stack: etcd (client and peer ports) and every Patroni REST API
refuse plain HTTP, a TLS 1.1 handshake, a client without a certificate and one with another CA's
certificate; they accept the harness's client certificate over TLS 1.2 and 1.3, and serve it. HAProxy's
checks (which can only pass over verified mutual TLS) keep the members in service, and the REST API's
unsafe methods still want basic auth on top of the certificate."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request

import pytest

from waqiti_drill.platform.local.etcd import Etcd
from waqiti_drill.platform.local.layout import members
from waqiti_drill.platform.local.patroni import PatroniCluster
from waqiti_drill.platform.local.runas import resolve_run_user
from waqiti_drill.platform.local.tls import TlsFiles, ensure_tls
from waqiti_drill.platform.local.tlsclient import get_json, request
from waqiti_drill.security.tlsprobe import plaintext_refused, tls_handshake
from waqiti_drill.waiting import wait_until

pytestmark = [pytest.mark.integration]

TLS11, TLS12, TLS13 = ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3


def _endpoints(stack) -> list[tuple[str, str, int]]:  # noqa: ANN001
    """(what, host, port) of every control-plane endpoint: etcd's client port where the harness and where
    the members reach it, its peer port, and each member's REST API."""
    ctx = stack.platform().context()
    p = stack.settings.ports
    out = [("etcd client", ctx.host, p.etcd_client), ("etcd peer", ctx.host, p.etcd_peer)]
    if ctx.dcs_host != ctx.host:
        out.append(("etcd client (members' address)", ctx.dcs_host, p.etcd_client))
    out += [(f"Patroni REST {m.name}", m.host, m.rest_port) for m in members(stack.settings)]
    return out


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A certificate set of another CA: a client certificate the stack must not trust."""
    return ensure_tls(tmp_path_factory.mktemp("foreign"), resolve_run_user("postgres"), ["127.0.0.1"], [])


def test_every_control_plane_endpoint_refuses_plain_http_and_tls11(stack):
    tls = stack.platform().context().tls
    mine = (tls.client_cert, tls.client_key)
    for what, host, port in _endpoints(stack):
        refused, said = plaintext_refused(host, port, "http")
        assert refused, f"{what} {host}:{port} served plain HTTP: {said}"
        old = tls_handshake(host, port, tls.ca_cert, max_version=TLS11, client_cert=mine)
        assert not old.ok, f"{what} {host}:{port} completed a TLS 1.1 handshake: {old}"
        for version in (TLS12, TLS13):
            new = tls_handshake(host, port, tls.ca_cert, max_version=version, client_cert=mine)
            assert new.ok and new.version == version.name.replace("v1_", "v1."), f"{what} {host}:{port}: {new}"


def test_every_control_plane_endpoint_wants_a_client_certificate_of_the_stacks_ca(stack, foreign):
    tls = stack.platform().context().tls
    for what, host, port in _endpoints(stack):
        for version in (TLS12, TLS13):
            bare = tls_handshake(host, port, tls.ca_cert, max_version=version)
            assert not bare.ok, f"{what} {host}:{port} accepted a client without a certificate ({version.name})"
            other = tls_handshake(host, port, tls.ca_cert, max_version=version,
                                  client_cert=(foreign.client_cert, foreign.client_key))
            assert not other.ok, f"{what} {host}:{port} accepted another CA's certificate ({version.name})"


def test_the_harness_is_served_over_mutual_tls(stack):
    ctx = stack.platform().context()
    etcd = Etcd(ctx)
    assert etcd.client_url.startswith("https://") and etcd.healthy()[0]
    # The gRPC gateway (the site loss deletes the cluster's keys through it) dials etcd with the server
    # certificate as a client: with client-certificate auth on, it works only if that certificate may.
    key = "/waqiti-drill-tls-probe/key"
    put = {"key": _b64(key), "value": _b64("v")}
    request(ctx.tls, f"{etcd.client_url}/v3/kv/put", timeout=10, body=put)
    assert etcd.delete_prefix("/waqiti-drill-tls-probe/") == 1
    cluster = PatroniCluster(ctx)
    for m in cluster.members:
        assert cluster.rest_url(m, "/patroni").startswith("https://")
        assert cluster.rest(m, "/patroni")["state"] in ("running", "streaming")
    assert len(cluster.cluster_view()) == 3 and cluster.rest_first("/config")["ttl"] == 20


def test_unsafe_rest_methods_still_want_basic_auth(stack):
    ctx = stack.platform().context()
    cluster = PatroniCluster(ctx)
    primary = cluster.primary()
    with pytest.raises(urllib.error.HTTPError) as refused:
        request(ctx.tls, cluster.rest_url(primary, "/switchover"), timeout=10, body={"leader": primary.name})
    assert refused.value.code == 401


def test_haproxy_checks_pass_over_mutual_tls(stack):
    """Each member is UP in the pool its role puts it in, and DOWN in the other: the checks read the REST
    API's answers, which it gives only over TLS to a client certificate of the stack's CA."""
    ctx = stack.platform().context()
    cfg = (ctx.state_dir / "haproxy" / "haproxy.cfg").read_text()
    assert f"check-ssl verify required ca-file {ctx.tls.ca_cert} crt {ctx.tls.client_pem}" in cfg
    cluster = PatroniCluster(ctx)

    def pools_follow_roles() -> tuple[bool, dict]:
        expected = {}
        for m in cluster.cluster_view():
            expected[("waqiti-postgres-primary", m.name)] = "UP" if m.role == "primary" else "DOWN"
            expected[("waqiti-postgres-replica", m.name)] = "DOWN" if m.role == "primary" else "UP"
        seen = _haproxy_status(ctx.host, stack.settings.ports.haproxy_stats)
        return len(expected) == 6 and all(seen.get(k) == v for k, v in expected.items()), seen

    wait_until(pools_follow_roles, 15, "HAProxy's pools to follow the members' roles")


def _haproxy_status(host: str, port: int) -> dict[tuple[str, str], str]:
    with urllib.request.urlopen(f"http://{host}:{port}/;csv", timeout=5) as resp:
        rows = [line.split(",") for line in resp.read().decode().splitlines() if line and not line.startswith("#")]
    return {(r[0], r[1]): r[17] for r in rows if r[1].startswith("pg")}


def test_patroni_talks_to_etcd_over_mutual_tls(stack):
    """What Patroni reads from the DCS over https with its client certificate: the cluster's config."""
    ctx = stack.platform().context()
    etcd = Etcd(ctx)
    scope = stack.settings.scope
    answer = get_json(ctx.tls, f"{etcd.client_url}/health", timeout=5)
    assert answer.get("health") == "true"
    body = {"key": _b64(f"/service/{scope}/config")}
    found = json.loads(request(ctx.tls, f"{etcd.client_url}/v3/kv/range", timeout=10, body=body))
    assert int(found.get("count", 0)) == 1, found  # written by Patroni's etcd3 client through TLS


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
