"""The control plane's mutual TLS as rendered (etcd's argv, Patroni's YAML, HAProxy's checks) and the
certificate set behind it: who may present which certificate, key modes, and a set made before it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.unit.test_postgres_config import SECRETS
from waqiti_drill.config import Settings
from waqiti_drill.errors import StateDirError
from waqiti_drill.platform.local.context import LocalContext
from waqiti_drill.platform.local.etcd import Etcd
from waqiti_drill.platform.local.haproxy import render_haproxy_cfg
from waqiti_drill.platform.local.layout import members
from waqiti_drill.platform.local.patroniconf import render_patroni_config
from waqiti_drill.platform.local.runas import resolve_run_user
from waqiti_drill.platform.local.supervisor import Supervisor
from waqiti_drill.platform.local.tls import ensure_tls, tls_complete, tls_files

NETNS = Settings(state_dir=Path("/var/lib/wd"), network="netns")
USER = resolve_run_user("postgres")


def _etcd(settings: Settings) -> Etcd:
    return Etcd(LocalContext(settings, SECRETS, USER, Supervisor(settings.state_dir, USER)))


def _flags(argv: list[str]) -> dict[str, str]:
    return dict(a[2:].split("=", 1) for a in argv[1:])


def test_etcd_serves_clients_and_peers_over_tls_with_client_certificates_required():
    etcd = _etcd(NETNS)
    tls, flags = tls_files(NETNS.state_dir), _flags(etcd.argv())
    urls = [*flags["listen-client-urls"].split(","), flags["advertise-client-urls"], flags["listen-peer-urls"],
            flags["initial-advertise-peer-urls"], flags["initial-cluster"].split("=", 1)[1]]
    assert urls and all(u.startswith("https://") for u in urls), urls
    assert etcd.client_url.startswith("https://127.0.0.1:") and etcd.member_url.startswith("https://10.")
    assert (flags["cert-file"], flags["key-file"], flags["trusted-ca-file"]) == (str(tls.cert), str(tls.key),
                                                                               str(tls.ca_cert))
    assert (flags["peer-cert-file"], flags["peer-key-file"], flags["peer-trusted-ca-file"]) == (
        str(tls.cert), str(tls.key), str(tls.ca_cert))
    assert flags["client-cert-auth"] == "true" and flags["peer-client-cert-auth"] == "true"


def test_etcd_cipher_suites_are_tls12_ecdhe_aead_only():
    suites = _flags(_etcd(NETNS).argv())["cipher-suites"].split(",")
    aead = ("_GCM_SHA256", "_GCM_SHA384", "_CHACHA20_POLY1305")
    assert suites and all(s.startswith("TLS_ECDHE_") and s.endswith(aead) for s in suites), suites
    assert not any("CBC" in s or "RC4" in s or "3DES" in s for s in suites)


def test_patroni_rest_api_requires_a_client_certificate_and_patroni_presents_one():
    settings = Settings(state_dir=Path("/var/lib/wd"))
    tls = tls_files(settings.state_dir)
    cfg = yaml.safe_load(render_patroni_config(settings, members(settings)[0], SECRETS, tls, "a %p",
                                               Path("/var/lib/wd/logs/pg1")))
    rest = cfg["restapi"]
    assert (rest["certfile"], rest["keyfile"], rest["cafile"]) == (str(tls.cert), str(tls.key), str(tls.ca_cert))
    assert rest["verify_client"] == "required"
    assert rest["authentication"]["username"] == "drill"
    assert "AESGCM" in rest["ciphers"] and "CBC" not in rest["ciphers"] and "RSA+" not in rest["ciphers"]
    # patroni/request.py presents ctl.certfile on member-to-member calls; restapi.certfile is never sent.
    assert cfg["ctl"] == {"certfile": str(tls.client_cert), "keyfile": str(tls.client_key), "cacert": str(tls.ca_cert)}
    dcs = cfg["etcd3"]
    assert dcs["protocol"] == "https" and dcs["cacert"] == str(tls.ca_cert)
    assert (dcs["cert"], dcs["key"]) == (str(tls.client_cert), str(tls.client_key))


def test_haproxy_checks_patroni_over_verified_mutual_tls():
    cfg = render_haproxy_cfg(NETNS, members(NETNS))
    tls = tls_files(NETNS.state_dir)
    check = f"check-ssl verify required ca-file {tls.ca_cert} crt {tls.client_pem}"
    defaults = [line for line in cfg.splitlines() if line.strip().startswith("default-server")]
    assert len(defaults) == 2 and all(line.endswith(check) for line in defaults), defaults
    assert "ssl-default-server-options ssl-min-ver TLSv1.2" in cfg
    # The traffic stays TCP pass-through (TLS end to end to PostgreSQL): no `ssl` on the server lines.
    servers = [line.split() for line in cfg.splitlines() if line.strip().startswith("server pg")]
    assert servers and all("ssl" not in words for words in servers)


def _eku(path: Path) -> set[x509.ObjectIdentifier]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_certificate_set_usages_and_key_modes(tmp_path):
    files = ensure_tls(tmp_path, USER, ["127.0.0.1", "10.1.2.11"], ["s3.example"])
    assert _eku(files.cert) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}  # etcd's own use
    assert _eku(files.client_cert) == {ExtendedKeyUsageOID.CLIENT_AUTH}
    for key in (files.key, files.client_key, files.client_pem):
        st = key.stat()
        assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == USER.uid, key
    pem = files.client_pem.read_text()
    assert "BEGIN CERTIFICATE" in pem and "BEGIN PRIVATE KEY" in pem
    assert not (tmp_path / "tls" / "ca.key").exists()  # the CA's key is never kept


def test_a_set_made_before_the_client_certificate_is_replaced_whole_when_nothing_runs(tmp_path):
    old = ensure_tls(tmp_path, USER, ["127.0.0.1"], [])
    ca_before = old.ca_cert.read_bytes()
    for p in (old.client_cert, old.client_key, old.client_pem):
        p.unlink()  # what a state directory made before this change holds
    assert not tls_complete(tmp_path)
    with pytest.raises(StateDirError, match="run 'drill down', then 'drill up'"):
        ensure_tls(tmp_path, USER, ["127.0.0.1"], [], running=["etcd", "patroni-pg1"])
    new = ensure_tls(tmp_path, USER, ["127.0.0.1"], [], running=[])
    assert tls_complete(tmp_path) and new.ca_cert.read_bytes() != ca_before
    issuer = x509.load_pem_x509_certificate(new.cert.read_bytes()).issuer
    assert issuer == x509.load_pem_x509_certificate(new.ca_cert.read_bytes()).subject
    again = ensure_tls(tmp_path, USER, ["127.0.0.1"], [], running=["etcd"])  # complete: reused as it is
    assert again.ca_cert.read_bytes() == new.ca_cert.read_bytes()
    assert os.access(new.client_pem, os.R_OK)
