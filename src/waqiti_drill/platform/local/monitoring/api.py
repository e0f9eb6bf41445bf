"""Prometheus's and Alertmanager's HTTP APIs as the harness reads them (loopback, JSON)."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

from waqiti_drill.platform.base import ActiveAlert, AlertSample, ScrapeTarget


def get_json(url: str, timeout: float = 5.0) -> Any:  # noqa: ANN401 - JSON
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def post(url: str, timeout: float = 10.0) -> None:
    request = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        resp.read()


class PrometheusApi:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def _data(self, path: str, **params: str) -> Any:  # noqa: ANN401 - JSON
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        body = get_json(f"{self.base}{path}{query}")
        if body.get("status") != "success":
            raise OSError(f"Prometheus {path}: {body.get('error', body)}")
        return body["data"]

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.base}/-/ready", timeout=2) as resp:
            return resp.status == 200

    def reload(self) -> None:
        post(f"{self.base}/-/reload")

    def targets(self) -> list[ScrapeTarget]:
        out = []
        for t in self._data("/api/v1/targets", state="active")["activeTargets"]:
            labels = dict(t.get("labels", {}))
            out.append(ScrapeTarget(job=str(labels.pop("job", "")), instance=str(labels.pop("instance", "")),
                                    labels=labels, health=str(t.get("health", "unknown")),
                                    last_error=str(t.get("lastError", "")), last_scrape=str(t.get("lastScrape", ""))))
        return sorted(out, key=lambda t: (t.job, t.instance))

    def alerts(self) -> list[ActiveAlert]:
        """Alerts pending or firing now, with the evaluation instant each became active."""
        out = []
        for a in self._data("/api/v1/alerts")["alerts"]:
            labels = dict(a.get("labels", {}))
            out.append(ActiveAlert(name=labels.pop("alertname", ""), labels=labels, state=str(a.get("state")),
                                   active_at=str(a.get("activeAt", "")), value=str(a.get("value", ""))))
        return out

    def rule_groups(self) -> list[dict]:
        return list(self._data("/api/v1/rules", type="alert")["groups"])

    def alert_samples(self, since: float, until: float) -> list[AlertSample]:
        """Every raw sample of the ALERTS series between `since` and `until` (epoch s).

        Prometheus writes one ALERTS sample per active alert at each rule evaluation, stamped with that
        evaluation's instant, so the first pending and firing samples are the exact evaluation instants
        the alert changed state (to the millisecond Prometheus stores).
        """
        seconds = max(1, int(until - since) + 1)
        data = self._data("/api/v1/query", query=f"ALERTS[{seconds}s]", time=f"{until:.3f}")
        out = []
        for series in data["result"]:
            labels = dict(series["metric"])
            name, state = labels.pop("alertname", ""), labels.pop("alertstate", "")
            labels.pop("__name__", None)
            for ts, _value in series["values"]:
                if float(ts) >= since:
                    out.append(AlertSample(name=name, labels=labels, state=state, at=float(ts)))
        return sorted(out, key=lambda s: s.at)

    def query(self, expr: str) -> list[dict]:
        return list(self._data("/api/v1/query", query=expr)["result"])


class AlertmanagerApi:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.base}/-/ready", timeout=2) as resp:
            return resp.status == 200

    def reload(self) -> None:
        post(f"{self.base}/-/reload")
