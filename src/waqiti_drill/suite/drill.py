"""ScenarioDrill: what one scenario's steps share, and the one way a scenario ends (heal, read back, check).

Steps are thin: they call these methods, the chaostoolkit actions (waqiti_drill.faults.actions, given
`configuration`, so their fault records land in this scenario's history) and the checker. Whatever a
scenario's steps did or failed to do, `close()` heals the platform and leaves the stack healthy.

    <scenario dir>/history/ops-*.jsonl, faults.jsonl, final.jsonl   the load's history and the fault clock
    <scenario dir>/locust_stats*.csv, locust*.log                  the load's own statistics
    <scenario dir>/check.json                                      the checker's full result
    <scenario dir>/roles.jsonl                                     the role sampler
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from waqiti_drill.checker.load import HistoryTail, LiveCounts
from waqiti_drill.checker.result import CheckResult
from waqiti_drill.config import Settings
from waqiti_drill.errors import InvalidConfig
from waqiti_drill.faults import context
from waqiti_drill.faults.engine import FaultEngine
from waqiti_drill.platform.base import Platform
from waqiti_drill.results import BackupUsed, ControlCheck, Detection, FaultInfo, MonitoringSeen, RegionRecovery
from waqiti_drill.suite.sampler import RoleSampler
from waqiti_drill.suite.watch import MonitoringWatch
from waqiti_drill.workload.runner import LoadSpec
from waqiti_drill.workload.session import LoadSession

HEAL_TIMEOUT = 300.0
SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"  # the chaostoolkit experiments of this checkout
# Named loads the steps start: which services Locust loads, with how many users. Small on purpose: the
# drill measures what clients see, and a 2-core machine also runs three members, six Redis nodes and the store.
LOADS: dict[str, tuple[str, ...]] = {"ledger": ("postgres",), "session": ("redis",), "full": ("postgres", "redis")}
USERS = {"ledger": 4, "session": 4, "full": 6}


@dataclass
class ScenarioDrill:
    settings: Settings
    config_file: str | None
    directory: Path
    platform: Platform
    load: LoadSession | None = None
    check: CheckResult | None = None
    data_validated: float | None = None  # epoch when the final read-back finished
    measurements: dict[str, float | int | str] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)  # what steps remember for later steps (e.g. old primary)
    backups: list[BackupUsed] = field(default_factory=list)  # backups a restore drill used (results.json)
    region: RegionRecovery | None = None  # a region-loss drill's recovery (results.json)
    controls: list[ControlCheck] = field(default_factory=list)  # a security drill's controls (results.json)
    healed: bool = False
    finished: bool = False
    sampler: RoleSampler | None = None
    watch: MonitoringWatch | None = None  # what the platform's monitoring saw (None: not monitored)
    detections: list[Detection] = field(default_factory=list)
    monitoring_seen: MonitoringSeen | None = None
    healthy_at: float | None = None  # epoch: the last heal finished, the platform healthy again
    faults: FaultEngine = field(init=False)
    _tail: HistoryTail | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        # The actions this scenario calls (in-process, through chaostoolkit's configuration) act on this
        # drill's own platform object, not on one rebuilt from the settings on every call.
        self.faults = context.adopt(self.settings, self.config_file, self.platform)

    @property
    def history_dir(self) -> Path:
        return self.directory / "history"

    @property
    def configuration(self) -> dict[str, Any]:
        """The chaostoolkit `configuration` the actions read: this stack, this scenario's history."""
        return context.configuration_for(self.settings, self.config_file, self.directory)

    def live(self) -> LiveCounts:
        """What the clients' history says so far (read incrementally with the checker's own parser)."""
        if self._tail is None:
            self._tail = HistoryTail(self.history_dir)
        return self._tail.poll()

    def start_sampler(self) -> None:
        self.sampler = RoleSampler(self.platform, self.directory / "roles.jsonl")
        self.sampler.start()

    def watch_monitoring(self) -> None:
        """Start watching the platform's monitoring: a quiet start first (see suite/watch.py)."""
        if not self.settings.monitoring.enabled:
            return
        started = time.monotonic()
        self.watch = MonitoringWatch(self.platform, self.settings, self.history_dir)
        self.watch.begin()
        self.measurements["harness: monitoring_quiet_seconds"] = round(time.monotonic() - started, 3)

    def first_fault(self) -> FaultInfo | None:
        """The scenario's first injected fault, from its records (the checker's view when a load ran)."""
        from waqiti_drill.monitoring.expected import fault_records
        from waqiti_drill.timefmt import utc_iso

        injected = [r for r in fault_records(self.history_dir) if r.phase == "inject"]
        if not injected:
            return None
        first = min(injected, key=lambda r: r.wall)
        return FaultInfo(name=first.name, target=first.target, injected_at=utc_iso(first.wall))

    def _judge_detection(self) -> list[str]:
        """Read what monitoring saw; one line per reason the drill fails on it (a false positive, a missed,
        late or unnotified detection). A monitoring that cannot be read is itself such a reason."""
        from waqiti_drill.monitoring.detection import failed

        if self.watch is None:
            return []
        try:
            self.detections, self.monitoring_seen = self.watch.seen()
        except Exception as exc:  # noqa: BLE001 - any failure to read it is reported as one line
            return [f"monitoring: could not read the alerts ({type(exc).__name__}: {str(exc)[:200]})"]
        reasons = [f"false positive: {a} fired with no fault in force" for a in self.monitoring_seen.false_positives]
        return reasons + failed(self.detections) + list(self.watch.notes)

    def start_load(self, kind: str, profile: str) -> LoadSession:
        if kind not in LOADS:
            raise InvalidConfig(f"unknown load '{kind}'; known: {', '.join(LOADS)}")
        if self.load is not None:
            raise InvalidConfig("a load is already running in this scenario")
        spec = LoadSpec(profile=profile, users=USERS[kind], services=LOADS[kind], wait=0.02)
        started = time.monotonic()
        self.load = LoadSession(self.platform, self.directory, spec).start()
        self.measurements["harness: load_start_seconds"] = round(time.monotonic() - started, 3)
        return self.load

    def heal(self, timeout: float = HEAL_TIMEOUT) -> dict[str, Any]:
        """Undo every fault in the ledger and wait until healthy (the experiments' rollback, as an action)."""
        from waqiti_drill.faults import actions

        started = time.monotonic()
        done = actions.heal(timeout, configuration=self.configuration)
        self.healed = True
        self.healthy_at = time.time()
        self.measurements["heal_seconds"] = round(time.monotonic() - started, 3)
        return done

    def finish(self) -> CheckResult | None:
        """End the drill once: heal, stop the load, read everything back, run the checker (when a fault was
        recorded). Returns the checker's result (also in check.json), None when nothing was measured."""
        if self.finished:
            return self.check
        self.finished = True
        try:
            if not self.healed:
                self._heal_after_failover()
        finally:
            self._stop_load()
        return self._check()

    def _heal_after_failover(self) -> None:
        """The drill's heal, but never restart a lost member while Patroni is still failing over: restarting the old
        primary in the middle of it was seen to leave diverged WAL that its archiver could never push
        (pgBackRest: 'already exists ... with a different checksum'), failing every later `drill up`. So
        with a member fault in force (and the DCS up), wait for a writable primary first; a heal that fails
        anyway is retried once a writable primary exists. Each wait and failure is reported."""
        from waqiti_drill.errors import DrillError, WaitTimeout

        if self.faults.member_fault_in_force():
            try:
                self.measurements["waited_for_failover_before_heal_seconds"] = self._await_writable(120.0)
            except WaitTimeout as exc:
                self.measurements["no_writable_primary_before_heal"] = str(exc)[:300]
        try:
            self.heal()
        except DrillError as exc:
            self.measurements["first_heal_failed"] = str(exc).splitlines()[0][:300]
            self._await_writable(self.settings.targets.rto_seconds)
            self.heal()

    def _await_writable(self, timeout: float) -> float:
        from waqiti_drill.faults.probes import writable_primary_exists
        from waqiti_drill.waiting import wait_until

        started = time.monotonic()
        wait_until(lambda: (writable_primary_exists(self.configuration), "no writable primary"), timeout,
                   "a writable primary behind the read-write endpoint before healing", interval=0.5)
        return round(time.monotonic() - started, 3)

    def _stop_load(self) -> None:
        if self.load is None or self.load.load is None:
            return
        started = time.monotonic()
        self.load.stop()
        stopped = time.monotonic()
        self.load.read_back()
        self.data_validated = time.time()
        self.measurements["harness: load_stop_seconds"] = round(stopped - started, 3)
        self.measurements["harness: read_back_seconds"] = round(time.monotonic() - stopped, 3)

    def _check(self) -> CheckResult | None:
        from waqiti_drill.checker import check, write_check

        if self.load is None or not (self.history_dir / "faults.jsonl").is_file():
            return None
        started = time.monotonic()
        self.check = check(self.history_dir, self.settings.targets)
        write_check(self.directory / "check.json", self.check)
        self.measurements["harness: check_seconds"] = round(time.monotonic() - started, 3)
        return self.check

    def close(self) -> None:
        """Teardown: finish (heals even when a step failed); a stopped Locust that failed must not hide a
        failed heal, so the heal runs first and the sampler stops last. Then what monitoring saw is judged:
        a false positive, or an alert missed or late, fails the scenario (after it healed)."""
        try:
            if not self.finished:
                self.finish()
        finally:
            if self.load is not None and self.load.load is not None and self.load.load.alive():
                self.load.load.stop_quietly()
            if self.sampler is not None:
                self.sampler.stop()
        reasons = self._judge_detection()
        if reasons:
            raise AssertionError("detection: " + "; ".join(reasons))

    def require_check(self) -> CheckResult:
        """The checker's result, finishing the drill first if need be; a drill without a measured fault fails."""
        result = self.finish()
        if result is None:
            raise AssertionError("nothing was measured: the scenario ran no load or recorded no fault")
        return result
