"""The tags a feature may carry and the check of a `--tags` expression, before pytest sees either.

Tags become pytest markers (pytest-bdd), so a tag expression is a pytest `-m` expression over these names.
Checking it here turns a typo into a one-line error instead of a run that silently selects nothing.
"""

from __future__ import annotations

import re

from waqiti_drill.errors import InvalidConfig

SUITE_TAGS: dict[str, str] = {
    "nightly": "the fast subset CI runs every night (a failover, a restore, a Redis failover)",
    "quarterly": "every drill: the full quarterly DR exercise",
    "destructive": "breaks something on purpose (the drill heals it)",
    "slow": "takes more than a minute",
    "deployment": "conformance of the live stack to the spec",
    "monitoring": "the alerts fire within their windows, measured on the real stack",
    "spec_alert": "one of the spec's critical alerts (or the clean run no alert may fire in)",
    "security": "the spec's security promises read from the live stack (TLS, at rest, audit, network, RBAC)",
}
FAULT_TAGS: dict[str, str] = {
    "primary_crash": "the PostgreSQL primary killed like a pod",
    "primary_isolation": "the PostgreSQL primary cut off the network",
    "primary_freeze": "the PostgreSQL primary frozen (a hung host)",
    "sync_standby_loss": "the synchronous standby lost",
    "switchover": "a planned switchover",
    "dcs_outage": "the DCS (etcd) down",
    "redis_master_failover": "a Redis master killed",
    "redis_reshard": "Redis slots moved between masters",
    "pitr": "point-in-time recovery",
    "site_loss": "loss of the whole PostgreSQL cluster",
    "region_loss": "loss of the whole primary region, failover to the backup region and failback",
    "redis_cluster_crash": "all six Redis nodes killed at once, restarted from AOF + RDB",
    "backup": "full and incremental backups taken and listed",
    "restore": "the newest backup restored into a separate copy (waqiti_restored)",
    "backup_verify": "the daily validation job: verify plus a test restore",
    "retention": "the retention of fulls and incrementals",
    "backup_encryption": "backups unreadable without the cipher passphrase",
    "object_store_outage": "a backup attempted while the object store is down",
    "steady_state": "a clean run: no alert may fire",
    "instance_down": "a PostgreSQL member killed and held down (PostgresInstanceDown, 1 minute)",
    "replication_lag": "a replica's replay stopped under load (PostgresReplicationLag, > 30 s for 2 minutes)",
    "disk_space": "a member's disk filled past 85 % (PostgresDiskSpace, 5 minutes)",
    "backup_failure": "a backup that fails (BackupFailed, immediate)",
    "connection_pool": "connections held near max_connections (PostgresConnectionPoolExhaustion, 5 minutes)",
    "wal_archiving": "WAL that cannot be archived (PostgresWalArchivingFailing, 1 minute)",
    "failed_logins": "refused logins (PostgresFailedLogins, immediate)",
    "redis_node_down": "a Redis node killed and held down (RedisNodeDown, 1 minute)",
    "tls": "every endpoint refuses plain text and TLS below 1.2; the control plane wants client certificates",
    "at_rest": "a canary absent from every data volume's raw bytes (AES-256 at rest)",
    "audit": "a canary statement in the audit log (pgaudit)",
    "network_policy": "connections from an address no policy allows are refused",
    "least_privilege": "the application role and Redis user hold no more than they need; SCRAM passwords only",
}
KNOWN_TAGS: dict[str, str] = {**SUITE_TAGS, **FAULT_TAGS}

_TOKEN = re.compile(r"\s*(?:(\()|(\))|(@?[A-Za-z_][A-Za-z0-9_]*)|(\S))")
_OPERATORS = {"and", "or", "not"}


def tokens(expr: str) -> list[str]:
    """Split an expression into parentheses, operators and tag names (a leading @ dropped)."""
    out: list[str] = []
    for match in _TOKEN.finditer(expr):
        opening, closing, word, other = match.groups()
        if other is not None:
            raise InvalidConfig(f"--tags {expr!r}: unexpected character {other!r}")
        token = opening or closing or word
        if token:
            out.append(token.lstrip("@") if word else token)
    return out


def check_expression(expr: str) -> str:
    """The pytest -m expression for `expr`, or InvalidConfig naming what is wrong (unknown tag, bad syntax).

    Grammar: expr := term ('or' term)*; term := factor ('and' factor)*; factor := 'not' factor | '(' expr ')' | tag.
    """
    toks = tokens(expr)
    if not toks:
        raise InvalidConfig("--tags: empty expression")
    unknown = [t for t in toks if t not in _OPERATORS and t not in "()" and t not in KNOWN_TAGS]
    if unknown:
        raise InvalidConfig(f"--tags {expr!r}: unknown tag(s) {', '.join(unknown)}; known: {', '.join(KNOWN_TAGS)}")
    position = _Parser(toks, expr).expression(0)
    if position != len(toks):
        raise InvalidConfig(f"--tags {expr!r}: unexpected {toks[position]!r}")
    return " ".join(toks)


class _Parser:
    """A tiny recursive-descent check of the grammar; it returns positions, not a tree."""

    def __init__(self, toks: list[str], expr: str) -> None:
        self.toks, self.expr = toks, expr

    def _fail(self, at: int, wanted: str) -> InvalidConfig:
        seen = repr(self.toks[at]) if at < len(self.toks) else "the end"
        return InvalidConfig(f"--tags {self.expr!r}: expected {wanted}, found {seen}")

    def expression(self, at: int) -> int:
        at = self.term(at)
        while at < len(self.toks) and self.toks[at] == "or":
            at = self.term(at + 1)
        return at

    def term(self, at: int) -> int:
        at = self.factor(at)
        while at < len(self.toks) and self.toks[at] == "and":
            at = self.factor(at + 1)
        return at

    def factor(self, at: int) -> int:
        if at >= len(self.toks):
            raise self._fail(at, "a tag, 'not' or '('")
        tok = self.toks[at]
        if tok == "not":
            return self.factor(at + 1)
        if tok == "(":
            end = self.expression(at + 1)
            if end >= len(self.toks) or self.toks[end] != ")":
                raise self._fail(end, "')'")
            return end + 1
        if tok in _OPERATORS or tok == ")":
            raise self._fail(at, "a tag, 'not' or '('")
        return at + 1
