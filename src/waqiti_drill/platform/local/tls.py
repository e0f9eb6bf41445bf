"""The stack's own certificate authority, the server certificate every TLS endpoint presents, and the
client certificate of the control plane's mutual TLS.

The server certificate names `localhost` and 127.0.0.1: pgBackRest checks the S3 endpoint by host name
(it must be `localhost`), while libpq clients connect to 127.0.0.1 with sslmode=verify-full. In `netns`
mode it also names every member's address (replication and pg_rewind verify the primary's address)
and the object store's name inside the namespaces. It carries clientAuth as well as serverAuth because
etcd presents it as a client: its gRPC gateway dials etcd's own client port with it, and etcd's peers
present it to each other; with client-certificate authentication on, etcd refuses a certificate
without clientAuth.

The client certificate (clientAuth only) is what the harness, HAProxy's checks and Patroni (its
`ctl` section: member-to-member REST calls, and its etcd client) present to etcd and to Patroni's
REST API, which both require a certificate of this CA. HAProxy wants certificate and key in one PEM.

Every key is mode 600 and owned by the run user. The CA's key is not kept: the set is issued at once,
and a state directory whose set is incomplete (one made before a file was added) gets a whole new
set on its next `drill up`, which the stack allows only while none of its servers runs (they would
still present the old certificates).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, fields
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from waqiti_drill.errors import StateDirError
from waqiti_drill.platform.local.runas import RunAs, make_dir, write_file

CA_NAME = "waqiti-drill embedded CA"
CLIENT_NAME = "waqiti-drill control-plane client"


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    cert: Path  # the server certificate (serverAuth and clientAuth)
    key: Path
    client_cert: Path  # clientAuth only: the harness, HAProxy, Patroni's ctl and etcd clients
    client_key: Path
    client_pem: Path  # client certificate and key in one file, for HAProxy's `crt`

    def all(self) -> list[Path]:
        return [getattr(self, f.name) for f in fields(self)]


def tls_files(state_dir: Path) -> TlsFiles:
    d = state_dir / "tls"
    return TlsFiles(ca_cert=d / "ca.crt", cert=d / "server.crt", key=d / "server.key",
                    client_cert=d / "client.crt", client_key=d / "client.key", client_pem=d / "client.pem")


def tls_complete(state_dir: Path) -> bool:
    """Whether the whole set exists (a state directory from before a file was added lacks some)."""
    return all(p.exists() for p in tls_files(state_dir).all())


def ensure_tls(state_dir: Path, user: RunAs, addresses: list[str], names: list[str],
               running: list[str] | None = None) -> TlsFiles:
    """Issue the CA, server and client certificates once; later calls reuse them.

    The addresses and names are fixed for a state directory (its marker records the network they come
    from), so a set made once stays right for it. An incomplete set is replaced whole (see above),
    unless processes of the stack (`running`) still serve with the old one: StateDirError then.
    """
    files = tls_files(state_dir)
    if tls_complete(state_dir):
        return files
    if running and files.ca_cert.exists():
        missing = ", ".join(p.name for p in files.all() if not p.exists())
        raise StateDirError(
            f"{state_dir} lacks {missing} (made before the control plane's mutual TLS) while "
            f"{', '.join(running)} still run with the old certificates: run 'drill down', then 'drill up'"
        )
    make_dir(user, files.ca_cert.parent, 0o755)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), days=3650)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in ["localhost", *names]]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _leaf(ca_name, ca_key, server_key, "localhost",
                   [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], sans)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _leaf(ca_name, ca_key, client_key, CLIENT_NAME, [ExtendedKeyUsageOID.CLIENT_AUTH], None)
    # Keys first and the CA last: a crash part-way leaves an incomplete set, replaced whole next time.
    write_file(user, files.key, _key_pem(server_key), 0o600)
    write_file(user, files.cert, _cert_pem(server), 0o644)
    write_file(user, files.client_key, _key_pem(client_key), 0o600)
    write_file(user, files.client_pem, _cert_pem(client) + _key_pem(client_key), 0o600)
    write_file(user, files.client_cert, _cert_pem(client), 0o644)
    write_file(user, files.ca_cert, _cert_pem(ca_cert), 0o644)
    return files


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey,
             days: int) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days)))


def _leaf(ca_name: x509.Name, ca_key: ec.EllipticCurvePrivateKey, key: ec.EllipticCurvePrivateKey, common_name: str,
          usages: list[x509.ObjectIdentifier], sans: list[x509.GeneralName] | None) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (_builder(subject, ca_name, key.public_key(), days=825)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage(usages), critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)
