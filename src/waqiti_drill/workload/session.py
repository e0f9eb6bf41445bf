"""A load run as the harness drives it: prepare, start Locust, stop, read back (faults are the actions' part).

Used by `drill load`, the drill steps and the calibration tests alike, so all of them produce the
same run directory:

    <run_dir>/targets.json            endpoints and run id given to Locust (no passwords)
    <run_dir>/history/ops-*.jsonl     one file per Locust process
    <run_dir>/history/faults.jsonl    fault records, written the instant each fault took effect
    <run_dir>/history/final.jsonl     the final read-back
    <run_dir>/locust_*.csv, locust*.log   Locust's own statistics and logs
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import psycopg

from waqiti_drill.platform.base import Platform
from waqiti_drill.workload import final_read, ledger, runner
from waqiti_drill.workload.runner import LoadRun, LoadSpec
from waqiti_drill.workload.targets import WorkloadTargets

ACCOUNTS = 1000  # ledger accounts transfers move money between


def new_run_id() -> str:
    """Sortable and unique: UTC time to the second plus 4 random hex digits."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


class LoadSession:
    def __init__(self, platform: Platform, run_dir: Path, spec: LoadSpec, run_id: str | None = None) -> None:
        spec.check()
        self.platform = platform
        self.run_dir = run_dir
        self.spec = spec
        self.run_id = run_id or new_run_id()
        self.targets: WorkloadTargets | None = None
        self.load: LoadRun | None = None
        self._passwords = (str(platform.postgres_connect_kwargs()["password"]), platform.redis_password())

    @property
    def history_dir(self) -> Path:
        return self.run_dir / "history"

    def _prepare_targets(self) -> WorkloadTargets:
        """What Locust needs to reach the services this run loads, with the ledger schema in place."""
        rw = self.platform.postgres_connect_kwargs(read_only=False)
        ro = self.platform.postgres_connect_kwargs(read_only=True)
        if "postgres" in self.spec.services:
            with psycopg.connect(**rw, autocommit=True, connect_timeout=5) as conn:  # type: ignore[arg-type]
                ledger.prepare_schema(conn, ACCOUNTS)
        # the seed clients are configured with (the global name where there is one), not the nodes: the client
        # discovers the nodes from it, and finds them again through it after the platform moved region
        with_redis = "redis" in self.spec.services
        nodes = self.platform.redis_seed_nodes() if with_redis else []
        client = self.platform.redis_client_settings() if with_redis else None
        self.history_dir.mkdir(parents=True, exist_ok=True)
        return WorkloadTargets(run_id=self.run_id, history_dir=str(self.history_dir), rw_dsn=str(rw["conninfo"]),
                               ro_dsn=str(ro["conninfo"]), redis_nodes=nodes, redis_client=client,
                               accounts=ACCOUNTS)

    def start(self) -> LoadSession:
        self.targets = self._prepare_targets()
        targets_file = self.targets.save(self.run_dir / "targets.json")
        self.load = runner.start(targets_file, self.run_dir, self.spec, *self._passwords)
        self.load.wait_ready(self.history_dir)
        return self

    def stop(self) -> None:
        if self.load is not None and self.load.alive():
            self.load.stop()
        elif self.load is not None:
            self.load.check_exit()

    def read_back(self, timeout: float = 120.0) -> Path:
        assert self.targets is not None, "start() first"
        return final_read.read_back(self.targets, *self._passwords, services=self.spec.services, timeout=timeout)

    def __enter__(self) -> LoadSession:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.load is None:
            return
        if kind is None:
            self.stop()
        else:  # the caller already failed: stop Locust without masking that error
            try:
                self.load.stop()
            except Exception:  # noqa: BLE001
                self.load.stop_quietly()



def summarize(history_dir: Path) -> str:
    """Operations per service and function by outcome, as a small table (no judging: `drill check` does that)."""
    from waqiti_drill.checker.load import load

    history = load(history_dir)
    counts: dict[tuple[str, str], list[int]] = {}
    for (service, _shard, f), (ok, fail, info) in zip(history.groups, history.counts, strict=True):
        row = counts.setdefault((service, f), [0, 0, 0])
        row[0], row[1], row[2] = row[0] + ok, row[1] + fail, row[2] + info
    lines = [f"{'service':9} {'operation':9} {'ok':>8} {'fail':>6} {'info':>6}"]
    for (service, f), (ok, fail, info) in sorted(counts.items()):
        lines.append(f"{service:9} {f:9} {ok:>8} {fail:>6} {info:>6}")
    return "\n".join(lines)
