"""The monitoring parts as one unit of the stack: render, start, wait until every target is up, status.

`drill up` renders and starts them after PostgreSQL and Redis (the exporters need the monitoring role
and the cluster); a part that runs is kept, and a changed configuration is reloaded, not restarted,
so `up` stays idempotent. `drill down` stops them with everything else (each runs with its cwd
under <state>/monitoring). The rules file is checked by promtool before anything is started.
"""

from __future__ import annotations

import contextlib
import hashlib
import urllib.request

from waqiti_drill.errors import InvalidConfig, StartupFailed
from waqiti_drill.monitoring.rules import check_rules
from waqiti_drill.platform.base import ActiveAlert, AlertNotification, AlertSample, MonitoringStatus
from waqiti_drill.platform.local.context import LocalContext, require_ports_free
from waqiti_drill.platform.local.layout import MemberLocation
from waqiti_drill.platform.local.monitoring import logwatch
from waqiti_drill.platform.local.monitoring.api import AlertmanagerApi, PrometheusApi
from waqiti_drill.platform.local.monitoring.exporters import (
    PG_EXPORTER_PREFIX,
    ExporterFiles,
    ensure_monitor_role,
    exporter_specs,
    render_exporter_files,
)
from waqiti_drill.platform.local.monitoring.notifications import read_notifications
from waqiti_drill.platform.local.monitoring.servers import (
    ALERTMANAGER,
    PROMETHEUS,
    ServerFiles,
    binaries_present,
    render_servers,
    server_specs,
)
from waqiti_drill.platform.local.supervisor import ProcessSpec
from waqiti_drill.waiting import wait_until


class MonitoringStack:
    def __init__(self, ctx: LocalContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings.monitoring
        self.base = ctx.state_dir / "monitoring"
        self.exporter_files = ExporterFiles(self.base)
        self.server_files = ServerFiles(self.base)

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    @property
    def prometheus(self) -> PrometheusApi:
        return PrometheusApi(f"http://{self.ctx.host}:{self.ctx.settings.ports.prometheus}")

    @property
    def alertmanager(self) -> AlertmanagerApi:
        return AlertmanagerApi(f"http://{self.ctx.host}:{self.ctx.settings.ports.alertmanager}")

    def specs(self) -> list[ProcessSpec]:
        return server_specs(self.ctx, self.server_files) + exporter_specs(self.ctx, self.exporter_files)

    def process_names(self) -> list[str]:
        return [s.name for s in self.specs()] if self.enabled else []

    def ports(self) -> dict[str, int]:
        if not self.enabled:
            return {}
        p = self.ctx.settings.ports
        out = {"prometheus": p.prometheus, "alertmanager": p.alertmanager, "pushgateway": p.pushgateway,
               "alert_webhook": p.alert_webhook, "logwatch": p.logwatch, "node_exporter": p.node_exporter}
        out.update({f"postgres_exporter[{i + 1}]": port for i, port in enumerate(p.postgres_exporter)})
        out.update({f"redis_exporter[{i + 1}]": port for i, port in enumerate(p.redis_exporter)})
        return out

    # ----- lifecycle -------------------------------------------------------------------------------
    def check_prerequisites(self) -> None:
        """Binaries installed and the rules file valid (promtool), before any part of the stack starts."""
        if not self.enabled:
            return
        binaries_present()
        check_rules(self.settings.rules_path)

    def rules_text(self) -> str:
        try:
            return self.settings.rules_path.read_text()
        except OSError as exc:
            raise InvalidConfig(f"{self.settings.rules_path}: cannot read the alert rules: {exc}") from None

    def render(self) -> dict[str, bool]:
        render_exporter_files(self.ctx, self.exporter_files)
        return render_servers(self.ctx, self.server_files, self.rules_text())

    def start_servers(self) -> None:
        """Render every file and start every part but the PostgreSQL exporters (they need the role first;
        started earlier they would fail to log in, and a burst of failed logins is what an alert watches)."""
        if not self.enabled:
            return
        self._changed = self.render()
        self._start([s for s in self.specs() if not s.name.startswith(PG_EXPORTER_PREFIX)])

    def start_postgres_exporters(self, primary: MemberLocation) -> None:
        """The monitoring role on the primary, then one exporter per member; then reload changed configs."""
        if not self.enabled:
            return
        ensure_monitor_role(self.ctx, primary)
        self._start([s for s in self.specs() if s.name.startswith(PG_EXPORTER_PREFIX)])
        self._reload({n for n, c in getattr(self, "_changed", {}).items() if c})

    def _start(self, specs: list[ProcessSpec]) -> None:
        sup = self.ctx.supervisor
        for spec in specs:
            if sup.pid_of(spec.name):
                continue
            port = self._own_port(spec)
            if port is not None:
                require_ports_free(self.ctx.host, {spec.name: port}, spec.name)
            spec.cwd.mkdir(parents=True, exist_ok=True)
            sup.start(spec)

    def _own_port(self, spec: ProcessSpec) -> int | None:
        for arg in spec.argv:
            for flag in ("--web.listen-address=", "-web.listen-address="):
                if arg.startswith(flag):
                    return int(arg.rsplit(":", 1)[1])
        return None

    def _reload(self, names: set[str]) -> None:
        """A running Prometheus or Alertmanager whose file changed reads it again (POST /-/reload); one that
        was started by this `up` has read it already, and reloading it twice is harmless."""
        apis = {PROMETHEUS: self.prometheus, ALERTMANAGER: self.alertmanager}
        for name in sorted(names):
            with contextlib.suppress(OSError):  # not ready yet: it reads the new file when it finishes starting
                apis[name].reload()

    def wait_ready(self, timeout: float) -> None:
        """Until Prometheus and Alertmanager answer and every scrape target is up; a dead part ends the wait."""
        if not self.enabled:
            return
        sup = self.ctx.supervisor

        def probe() -> tuple[bool, str]:
            dead = [s.name for s in self.specs() if sup.pid_of(s.name) is None]
            if dead:
                raise StartupFailed(f"{dead[0]} exited during start-up; last log line: {sup.last_log_line(dead[0])}")
            if not (self.prometheus.ready() and self.alertmanager.ready()):
                return False, "Prometheus or Alertmanager not ready"
            targets = self.prometheus.targets()
            down = [f"{t.job} {t.instance}: {t.health} {t.last_error}".strip() for t in targets if t.health != "up"]
            return not down and bool(targets), "; ".join(down) or "no targets yet"

        wait_until(probe, timeout, "Prometheus and Alertmanager ready and every scrape target up", interval=0.5)
        for s in self.specs():
            sup.check_alive(s.name, s.name)

    # ----- reading ---------------------------------------------------------------------------------
    def status(self) -> MonitoringStatus:
        m = self.settings
        rules = self.server_files.rules
        sha = hashlib.sha256(rules.read_bytes()).hexdigest() if rules.exists() else ""
        return MonitoringStatus(
            prometheus=self.prometheus.base, alertmanager=self.alertmanager.base,
            scrape_interval_seconds=m.scrape_interval, evaluation_interval_seconds=m.evaluation_interval,
            group_wait_seconds=m.group_wait, group_interval_seconds=m.group_interval,
            rules_file=str(m.rules_path), rules_sha256=sha,
            targets=self.prometheus.targets(), alerts=self.prometheus.alerts(),
        )

    def active_alerts(self) -> list[ActiveAlert]:
        return self.prometheus.alerts()

    def refused_logins_in_window(self) -> dict[str, float]:
        """PostgresFailedLogins's own expression without its threshold, per member (absent: none counted), plus
        the refusals the counter has that Prometheus has not scraped yet. A refusal reaches Prometheus up to a
        scrape interval late, and the next scenario may begin within it: seen, a least-privilege probe's
        refusals 0.4 s before the next start, counted nowhere, then raising the alert in that scenario."""
        def by_member(expr: str) -> dict[str, float]:
            return {r["metric"].get("member", ""): float(r["value"][1]) for r in self.prometheus.query(expr)}

        selector = f'{logwatch.METRIC}{{job="logwatch"}}'
        counted = by_member(f"sum by (member) (increase({selector}[1m]))")
        scraped = by_member(f"sum by (member) ({selector})")
        with urllib.request.urlopen(f"http://{self.ctx.host}:{self.ctx.settings.ports.logwatch}/metrics",
                                    timeout=5) as resp:
            now = logwatch.parse_exposition(resp.read().decode())
        for member, n in now.items():
            if n > scraped.get(member, 0.0):  # fewer: the counter restarted, and Prometheus's increase covers it
                counted[member] = counted.get(member, 0.0) + n - scraped.get(member, 0.0)
        return counted

    def alert_samples(self, since: float, until: float) -> list[AlertSample]:
        return self.prometheus.alert_samples(since, until)

    def notifications(self, since: float) -> list[AlertNotification]:
        return [n for n in read_notifications(self.server_files.notifications) if n.received_at >= since]
