"""The stack's own certificate authority and the server certificate every TLS endpoint presents.

The certificate names `localhost` and 127.0.0.1: pgBackRest checks the S3 endpoint by host name (it
must be `localhost`), while libpq clients connect to 127.0.0.1 with sslmode=verify-full. In `netns`
mode it also names every member's address (replication and pg_rewind verify the primary's address)
and the object store's name inside the namespaces.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from waqiti_drill.platform.local.runas import RunAs, make_dir, write_file


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    cert: Path
    key: Path


def tls_files(state_dir: Path) -> TlsFiles:
    d = state_dir / "tls"
    return TlsFiles(ca_cert=d / "ca.crt", cert=d / "server.crt", key=d / "server.key")


def ensure_tls(state_dir: Path, user: RunAs, addresses: list[str], names: list[str]) -> TlsFiles:
    """Create the CA and server certificate once; later calls reuse them.

    The addresses and names are fixed for a state directory (its marker records the network they come
    from), so a certificate made once stays right for it.
    """
    files = tls_files(state_dir)
    if files.ca_cert.exists() and files.cert.exists() and files.key.exists():
        return files
    make_dir(user, files.ca_cert.parent, 0o755)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "waqiti-drill embedded CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in ["localhost", *names]]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    write_file(user, files.key, key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()), 0o600)
    write_file(user, files.cert, cert.public_bytes(pem), 0o644)
    write_file(user, files.ca_cert, ca_cert.public_bytes(pem), 0o644)
    return files
