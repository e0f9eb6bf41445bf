"""The spec's security controls, what each is checked by, and the requirements each check evidences.

The mapping is narrow on purpose: a check evidences the technical property it observed on the running
platform (TLS refused below 1.2, ciphertext on disk, an audit line written), not the organisational
control around it (key management procedures, log review, access reviews). The report says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from waqiti_drill.results import ControlCheck


@dataclass(frozen=True)
class SecurityControl:
    key: str
    control: str  # the spec's promise, as the evidence names it
    how: str  # the method, in a sentence an auditor can repeat
    pci_dss: tuple[str, ...]  # PCI DSS v4.0 requirement numbers
    soc2: tuple[str, ...]  # AICPA Trust Services Criteria

    def check(self, findings: list[str], how: str | None = None) -> ControlCheck:
        """The control's check from its findings: passed when there is at least one and none begins "FAIL"."""
        passed = bool(findings) and not any(f.startswith("FAIL") for f in findings)
        return ControlCheck(control=self.control, how=how or self.how, passed=passed, findings=list(findings),
                            pci_dss=list(self.pci_dss), soc2=list(self.soc2))


TLS_PLAINTEXT = SecurityControl(
    "tls_plaintext", "No plain-text connection to any endpoint",
    "each endpoint's own protocol (PostgreSQL startup, RESP PING, HTTP GET) sent without TLS; it must not be served",
    ("4.2.1",), ("CC6.7",))
TLS_VERSION = SecurityControl(
    "tls_version", "TLS 1.2 or later on every connection",
    "a TLS 1.1 handshake offered to each endpoint by a client that allows it must be refused, and a TLS 1.2 "
    "handshake verified against the platform's CA (with the client certificate where one is required) must complete",
    ("4.2.1",), ("CC6.7",))
MUTUAL_TLS = SecurityControl(
    "mutual_tls", "Control-plane APIs authenticate their clients",
    "a TLS handshake without a client certificate offered to etcd and each Patroni REST API must be refused",
    ("8.3.1",), ("CC6.1",))
AT_REST = SecurityControl(
    "at_rest", "AES-256 encryption at rest of the database and cache volumes",
    "the kernel's encryption policy read from every data directory; a canary written through the application, "
    "flushed to disk and searched for in each volume's raw bytes (below the filesystem); the same search shown to "
    "find a control written unencrypted to the same volume",
    ("3.5.1",), ("CC6.1",))
BACKUP_ENCRYPTION = SecurityControl(
    "backup_encryption", "Backups encrypted client-side and server-side",
    "the object store asked for the bucket's default encryption and a repository object's; the object's first "
    "bytes read back",
    ("3.5.1",), ("CC6.1",))
AUDIT = SecurityControl(
    "audit", "Audit logging of all database operations",
    "a canary statement run through the application; the database server's own log searched for its audit record",
    ("10.2.1", "10.2.2"), ("CC7.2",))
FAILED_LOGINS = SecurityControl(
    "failed_logins", "Failed logins recorded (security events)",
    "logins with a wrong password tried against the primary; each must be refused and recorded in its log",
    ("10.2.1.4",), ("CC7.2",))
NETWORK_POLICY = SecurityControl(
    "network_policy", "Network policy: only the platform's own addresses reach the database",
    "connections tried from a network namespace on the members' network at an address no policy allows",
    ("1.3.1",), ("CC6.6",))
LEAST_PRIVILEGE = SecurityControl(
    "least_privilege", "Minimal RBAC for the application",
    "the application role's attributes read from the catalog, then role creation, a schema it was not granted and "
    "a replication connection tried as it; the application's Redis user tried on administrative commands",
    ("7.2.1", "7.2.2"), ("CC6.3",))
PASSWORDS = SecurityControl(
    "passwords", "Strong password policy",
    "every login role's stored verifier read from the catalog; a role with an md5 password tried against the "
    "server; the strength of the secrets the platform generated",
    ("8.3.2", "8.3.6"), ("CC6.1",))

CONTROLS = (TLS_PLAINTEXT, TLS_VERSION, MUTUAL_TLS, AT_REST, BACKUP_ENCRYPTION, AUDIT, FAILED_LOGINS, NETWORK_POLICY,
            LEAST_PRIVILEGE, PASSWORDS)


def finding(ok: bool, text: str) -> str:
    """One line of a check: "ok: ..." or "FAIL: ..." (what the report and the one-line failure show)."""
    return f"{'ok' if ok else 'FAIL'}: {text}"
