"""Prometheus, Alertmanager and the harness's two small servers (alert receiver, failed-login counter) as
processes: their files and command lines. Every listener is on the stack's loopback address."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from waqiti_drill.platform.local.context import LocalContext, find_binary
from waqiti_drill.platform.local.layout import members
from waqiti_drill.platform.local.monitoring import logwatch, webhook
from waqiti_drill.platform.local.monitoring.render import RULES_NAME, render_alertmanager, render_prometheus
from waqiti_drill.platform.local.runas import make_dir, write_file
from waqiti_drill.platform.local.supervisor import ProcessSpec

PROMETHEUS = "prometheus"
ALERTMANAGER = "alertmanager"
WEBHOOK = "alert-webhook"
LOGWATCH = "logwatch"
RETENTION = "3d"  # a drill reads back minutes; a stack that runs for days keeps three of them


@dataclass(frozen=True)
class ServerFiles:
    base: Path  # <state>/monitoring

    def dir(self, name: str) -> Path:
        return self.base / name

    @property
    def prometheus_config(self) -> Path:
        return self.dir(PROMETHEUS) / "prometheus.yml"

    @property
    def rules(self) -> Path:
        return self.dir(PROMETHEUS) / RULES_NAME

    @property
    def alertmanager_config(self) -> Path:
        return self.dir(ALERTMANAGER) / "alertmanager.yml"

    @property
    def notifications(self) -> Path:
        """Every notification the receiver got, one JSON line each (see webhook.py)."""
        return self.dir(WEBHOOK) / "notifications.jsonl"

    def script(self, name: str) -> Path:
        return self.dir(name) / f"{name.replace('-', '_')}.py"


def render_servers(ctx: LocalContext, files: ServerFiles, rules_text: str) -> dict[str, bool]:
    """Write every file; for each config-reading server, whether its configuration changed (reload it)."""
    user = ctx.user
    changed = {}
    for name in (PROMETHEUS, ALERTMANAGER, WEBHOOK, LOGWATCH):
        make_dir(user, files.dir(name), 0o755)
    changed[PROMETHEUS] = _write_if_changed(ctx, files.prometheus_config, render_prometheus(ctx.settings))
    changed[PROMETHEUS] |= _write_if_changed(ctx, files.rules, rules_text)
    changed[ALERTMANAGER] = _write_if_changed(ctx, files.alertmanager_config, render_alertmanager(ctx.settings))
    # The receivers are standard-library scripts, copied so the run user needs no access to the checkout.
    for name, module in ((WEBHOOK, webhook), (LOGWATCH, logwatch)):
        _write_if_changed(ctx, files.script(name), Path(str(module.__file__)).read_text())
    return changed


def _write_if_changed(ctx: LocalContext, path: Path, text: str) -> bool:
    try:
        if path.read_text() == text:
            return False
    except OSError:
        pass
    write_file(ctx.user, path, text, 0o644)
    return True


def server_specs(ctx: LocalContext, files: ServerFiles) -> list[ProcessSpec]:
    host, ports = ctx.host, ctx.settings.ports
    prom_dir, am_dir = files.dir(PROMETHEUS), files.dir(ALERTMANAGER)
    prometheus = ProcessSpec(name=PROMETHEUS, cwd=prom_dir, argv=[
        find_binary("prometheus", "the Debian package prometheus"),
        f"--config.file={files.prometheus_config}", f"--storage.tsdb.path={prom_dir / 'data'}",
        f"--storage.tsdb.retention.time={RETENTION}", f"--web.listen-address={host}:{ports.prometheus}",
        "--web.enable-lifecycle", "--log.level=warn"])
    alertmanager = ProcessSpec(name=ALERTMANAGER, cwd=am_dir, argv=[
        find_binary("prometheus-alertmanager", "the Debian package prometheus-alertmanager"),
        f"--config.file={files.alertmanager_config}", f"--storage.path={am_dir / 'data'}",
        f"--web.listen-address={host}:{ports.alertmanager}",
        "--cluster.listen-address=",  # one Alertmanager: no gossip listener
        "--log.level=warn"])
    python = sys.executable  # the interpreter Patroni runs with, which the run user can execute
    receiver = ProcessSpec(name=WEBHOOK, cwd=files.dir(WEBHOOK), argv=[
        python, "-I", str(files.script(WEBHOOK)), host, str(ports.alert_webhook), str(files.notifications)])
    log_dirs = [f"{m.name}={ctx.state_dir / 'logs' / m.name}" for m in members(ctx.settings)]
    counter = ProcessSpec(name=LOGWATCH, cwd=files.dir(LOGWATCH), argv=[
        python, "-I", str(files.script(LOGWATCH)), host, str(ports.logwatch), *log_dirs])
    return [prometheus, alertmanager, receiver, counter]


def binaries_present() -> None:
    """Every binary monitoring runs, checked before anything starts (MissingBinary names the package)."""
    for binary, package in (("prometheus", "prometheus"), ("promtool", "prometheus"),
                            ("prometheus-alertmanager", "prometheus-alertmanager"),
                            ("prometheus-postgres-exporter", "prometheus-postgres-exporter"),
                            ("prometheus-redis-exporter", "prometheus-redis-exporter"),
                            ("prometheus-node-exporter", "prometheus-node-exporter"),
                            ("prometheus-pushgateway", "prometheus-pushgateway")):
        find_binary(binary, f"the Debian package {package}")
