"""report.html: one file that opens offline, anywhere, years later.

Images are data: URIs, the CSS is inline, there is no script and no link to fetch: an auditor's browser
on a closed network shows exactly what was signed. Every value is escaped (scenario names and errors
come from feature files and servers).
"""

from __future__ import annotations

import base64
from html import escape
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;width:100%}th,td{border:1px solid #ccc;padding:.3em .5em;
text-align:left;vertical-align:top;font-size:.92em}th{background:#f3f3f3}
.PASS,.passed{color:#fff;background:#2e7d32}.FAIL,.failed{color:#fff;background:#c62828}
.skipped,.n\\/a,.NOT{background:#eee}.badge{padding:.1em .5em;border-radius:3px;font-weight:600}
.scenario{border:1px solid #ddd;border-radius:6px;padding:0 1em 1em;margin:1.2em 0}
img{max-width:100%;border:1px solid #eee}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.8em}code{font-size:.9em}.muted{color:#666}
.exec{border:2px solid #999;border-left:12px solid #999;border-radius:6px;padding:.4em 1.2em .8em;margin:1em 0;
background:#fafafa}.exec.MET{border-color:#2e7d32;background:#f1f8f1}.exec.NOT{border-color:#c62828;background:#fdf2f2}
.exec h2{border:0;margin:.4em 0 .2em}.exec .verdict{font-size:1.3em;font-weight:700}.exec td,.exec th{background:#fff}
"""


def _badge(text: str) -> str:
    return f'<span class="badge {escape(text.split()[0])}">{escape(text)}</span>'


def _value(value: Any) -> str:
    return "—" if value is None or value == "" else escape(str(value))


def _rows(pairs: list[tuple[str, Any]]) -> str:
    return "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in pairs)


def _img(path: str, images: dict[str, bytes], alt: str) -> str:
    data = images.get(path)
    if data is None:
        return f'<p class="muted">plot {escape(path)} missing</p>'
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _objective_row(name: str, o: dict[str, Any]) -> str:
    met = {True: _badge("PASS") + " met", False: _badge("FAIL") + " not met", None: "not exercised by this run"}
    worst = "—"
    if o["worst_seconds"] is not None:
        worst = (f"{_secs(o['worst_seconds'])} against {o['target_seconds']:g} s, in "
                 f"<a href=\"#s-{escape(o['worst_slug'])}\">{escape(o['worst_scenario'])}</a>")
    unmeasured = f"; not measured in {len(o['not_measured'])} scenario(s) with a fault" if o["not_measured"] else ""
    return (f"<tr><th>{escape(name)} (target {o['target_seconds']:g} s)</th><td>{met[o['met']]}{unmeasured}</td>"
            f"<td>worst: {worst}</td></tr>")


def _executive(doc: dict[str, Any]) -> str:
    e = doc["executive_summary"]
    rows = _objective_row("RTO", e["rto"]) + _objective_row("RPO", e["rpo"])
    attention = "".join(f"<li><a href=\"#s-{escape(a['slug'])}\">{escape(a['scenario'])}</a> "
                        f"{_badge(a['status'])}: {escape(a['why'])}</li>" for a in e["attention"])
    needs = (f"<p><b>Needs attention:</b></p><ul>{attention}</ul>" if attention
             else "<p>Nothing failed, was skipped or went unmeasured.</p>")
    ticket = f" under change ticket <b>{escape(doc['ticket'])}</b>" if doc.get("ticket") else ""
    tone = {"MET": "MET", "NOT MET": "NOT", "FAILED": "NOT"}.get(e["overall"], "")
    return (f'<section class="exec {tone}" id="executive-summary">'
            f"<h2>Executive summary</h2><p class=\"verdict\">DR objectives: {escape(e['overall'])}</p>"
            f"<p>{e['passed']} of {e['scenarios']} scenario(s) passed. Drill {escape(doc['drill_id'])} run by "
            f"{escape(doc['operator'])}{ticket}, started {_value(doc['started_at'])}.</p>"
            f"<table>{rows}</table>{needs}</section>")


def _header(doc: dict[str, Any]) -> str:
    scope, summary = doc["scope"], doc["summary"]
    components = ", ".join(f"{escape(k)} {escape(v)}" for k, v in sorted(scope["components"].items()))
    return (f"<h1>DR drill evidence report: {escape(doc['drill_id'])}</h1>" + _executive(doc)
            + '<p class="muted">Built from the run\'s raw data by <code>drill report</code>; '
            "integrity: <code>drill evidence verify</code> against MANIFEST.json and MANIFEST.sig.</p>"
            "<h2>Drill and scope</h2><table>" + _rows([
                ("Drill id", _value(doc["drill_id"])), ("Operator", _value(doc["operator"])),
                ("Change ticket", _value(doc.get("ticket"))),
                ("Started / finished (UTC)", f"{_value(doc['started_at'])} / {_value(doc['finished_at'])}"),
                ("Platform", _value(scope["platform"])), ("Component versions", components or "—"),
                ("Effective configuration SHA-256", f"<code>{_value(scope['config_sha256'])}</code>"),
                ("Command / tags", f"<code>{_value(' '.join(scope['command']))}</code> / {_value(scope['tags'])}"),
                ("Targets", f"RTO {scope['targets']['rto_seconds']:g} s, RPO {scope['targets']['rpo_seconds']:g} s"),
                ("Wait bounds scaled by", _multiplier(scope.get("timeout_multiplier"))),
                ("Scenarios", f"{summary['scenarios']}: {summary['passed']} passed, {summary['failed']} failed, "
                              f"{summary['skipped']} skipped"),
                ("Signing key (Ed25519)", f"<code>{_value(doc['integrity']['signing_key_fingerprint'])}</code>"),
                ("Secrets scan", f"the run is signed only if none of the {doc['integrity']['secrets_scanned_for']} "
                                 "known secrets is found in any of its files"),
            ]) + "</table>")


def _multiplier(value: float | None) -> str:
    """DRILL_TIMEOUT_MULTIPLIER: every "within N seconds" bound of the features was N times this."""
    if value is None:
        return "not recorded (run made before it was recorded)"
    return f"{value:g} (DRILL_TIMEOUT_MULTIPLIER: each \"within N seconds\" bound was N &times; {value:g})"


def _summary_table(doc: dict[str, Any]) -> str:
    head = "<tr><th>Scenario</th><th>Status</th><th>RTO</th><th>RPO</th><th>Acked / lost / recovered</th></tr>"
    rows = []
    for s in doc["scenarios"]:
        w = s["writes"]
        rows.append(f"<tr><td><a href=\"#s-{escape(s['slug'])}\">{escape(s['scenario'])}</a></td>"
                    f"<td>{_badge(s['status'])}</td>"
                    f"<td>{_secs(s['rto']['measured_seconds'])} {_badge(s['rto']['verdict'])}</td>"
                    f"<td>{_secs(s['rpo']['measured_seconds'])} {_badge(s['rpo']['verdict'])}</td>"
                    f"<td>{_value(w['acknowledged'])} / {_value(w['lost'])} / {_value(w['recovered'])}</td></tr>")
    return "<h2>Summary</h2><table>" + head + "".join(rows) + "</table>"


def _secs(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def _plot_order(item: tuple[str, str]) -> tuple[int, str]:
    """Throughput first (what clients saw), then the alerts (what monitoring saw), then the roles."""
    return ({"throughput": 0, "alerts": 1}.get(item[0], 2), item[0])


def _region_rows(region: dict[str, Any] | None) -> list[tuple[str, str]]:
    """A region loss: per region what was lost and from which copy each service came back, and the RPO's parts."""
    if not region:
        return []
    r = region
    lag = (f"replication lag at the loss {_secs(r['replication_lag_seconds'])} "
           f"({r['replication_segments_behind']} WAL segment(s) behind, method {escape(r['replication_method'])})")
    archived = r.get("archive_lag_seconds")
    lag += f"; archive lag (the loss minus the newest archived WAL) {_secs(archived)}"
    return [
        ("Region lost / recovered in", f"{escape(region['lost_region'])} / {escape(region['recovered_in'])} "
                                       f"(failover {_secs(region['failover_seconds'])})"),
        ("PostgreSQL came back from", f"{escape(r['postgres_restored_from'])}; lost {_value(r['postgres_lost'])} "
                                      f"acknowledged writes, RPO {_secs(region['postgres_rpo_seconds'])}"),
        ("Redis came back from", f"{escape(region['redis_restored_from'])}; lost {_value(region['redis_lost'])} "
                                 f"acknowledged sessions and increments, RPO {_secs(region['redis_rpo_seconds'])}"),
        ("RPO's parts", f"{lag}; restored set ended {_secs(region['postgres_set_age_seconds'])} before the loss "
                        f"(archived WAL replayed after it); Redis backup taken "
                        f"{_secs(region['redis_backup_age_seconds'])} before the loss"),
    ]


def _scenario(s: dict[str, Any], images: dict[str, bytes]) -> str:
    fault = s["fault"] or {}
    t = s["timeline"]
    backups = "".join(f"<li><code>{escape(b['label'])}</code> ({escape(b['type'])}), WAL "
                      f"<code>{escape(b['wal_start'])}..{escape(b['wal_stop'])}</code></li>" for b in s["backups"])
    deviations = "".join(f"<li>{escape(d)}</li>" for d in s["deviations"])
    measurements = ", ".join(f"{escape(k)} = {escape(str(v))}" for k, v in sorted(s["measurements"].items()))
    table = _rows([
        ("Feature / tags", f"{_value(s['feature'])} / {escape(' '.join(s['tags'])) or '—'}"),
        ("Status", _badge(s["status"])),
        ("Hypothesis", f"<div style=\"white-space: pre-line\">{_value(s['hypothesis'])}</div>"),
        ("Fault", f"{_value(fault.get('name'))} on {_value(fault.get('target'))}" if fault else "none"),
        ("Fault injected (UTC)", _value(t["fault_injected"])),
        ("Failure detected (UTC)", _value(t["failure_detected"])),
        ("Writable again (UTC)", _value(t["writable_again"])),
        ("Data validated (UTC)", _value(t["data_validated"])),
        ("Alert pending / firing (detected) / notified (UTC)",
         f"{_value(t.get('alert_pending'))} / {_value(t.get('alert_firing'))} / {_value(t.get('alert_notified'))}"),
        ("Healthy again (UTC)", _value(t.get("healthy"))),
        ("RTO decomposed (s from the fault)", _decomposed(s.get("rto_decomposed") or {})),
        ("RTO", f"{_secs(s['rto']['measured_seconds'])} against {s['rto']['target_seconds']:g} s "
                f"{_badge(s['rto']['verdict'])}"),
        ("RPO", f"{_secs(s['rpo']['measured_seconds'])} against {s['rpo']['target_seconds']:g} s "
                f"{_badge(s['rpo']['verdict'])}"),
        ("Writes acknowledged / lost / recovered",
         f"{_value(s['writes']['acknowledged'])} / {_value(s['writes']['lost'])} / {_value(s['writes']['recovered'])}"),
        ("Backup sets and WAL ranges used", f"<ul>{backups}</ul>" if backups else "none"),
        *_region_rows(s.get("region")),
        ("Deviations", f"<ul>{deviations}</ul>" if deviations else "none"),
        ("Other measurements", measurements or "—"),
        ("Controls evidenced", escape(", ".join(s["controls"])) or "none"),
        ("Raw data", escape(", ".join(f"{k}: {v}" for k, v in s["raw"].items() if v)) or "—"),
    ])
    ordered = sorted(s["plots"].items(), key=_plot_order)
    plots = "".join(_img(path, images, f"{name} plot of {s['scenario']}") for name, path in ordered)
    detections = _detections(s.get("detections") or [], with_scenario=False)
    summary = (f"<p><b>History summary</b> (the checker's result, per service and shard):</p>"
               f"<pre>{escape(s['history_summary'])}</pre>") if s["history_summary"] else ""
    return (f'<div class="scenario" id="s-{escape(s["slug"])}"><h3>{escape(s["scenario"])}</h3><table>{table}</table>'
            f"{detections}{plots}{summary}</div>")


def _decomposed(parts: dict[str, float | None]) -> str:
    """detected +X s, notified +Y s, writable again +Z s, healthy +W s (— where a part has no instant)."""
    names = (("detected", "detected (alert firing)"), ("notified", "notified"), ("writable_again", "writable again"),
             ("healthy", "healthy"))
    shown = [f"{label} {'—' if parts.get(key) is None else f'+{parts[key]:.1f} s'}" for key, label in names]
    return escape(", ".join(shown)) if parts else "—"


def _detections(rows: list[dict[str, Any]], with_scenario: bool) -> str:
    """The detection table: each alert against its budget (seconds from the condition's instant)."""
    if not rows:
        return ""
    head = ("<tr>" + ("<th>Scenario</th>" if with_scenario else "") + "<th>Alert (instance)</th><th>Condition</th>"
            "<th>for</th><th>Budget</th><th>Pending</th><th>Firing</th><th>Notified</th><th>Margin</th>"
            "<th>Resolved</th><th>Verdict</th></tr>")
    body = []
    for r in rows:
        who = ",".join(f"{k}={v}" for k, v in sorted(r["instance"].items()))
        verdict = r["verdict"]
        css = "PASS" if verdict == "detected" else ("n/a" if verdict == "not expected" else "FAIL")
        note = f'<br><span class="muted">{escape(r["note"])}</span>' if r["note"] else ""
        body.append("<tr>" + (f"<td>{escape(r['scenario'])}</td>" if with_scenario else "")
                    + f"<td>{escape(r['alert'])} ({escape(who) or 'any'})</td><td>{escape(r['condition'])}</td>"
                    f"<td>{r['window_seconds']:g} s</td><td>{r['budget_seconds']:g} s</td>"
                    f"<td>{_secs(r['pending_seconds'])}</td><td>{_secs(r['firing_seconds'])}</td>"
                    f"<td>{_secs(r['notified_seconds'])}</td><td>{_secs(r['margin_seconds'])}</td>"
                    f"<td>{_secs(r['resolved_seconds'])}</td>"
                    f'<td><span class="badge {css}">{escape(verdict)}</span>{note}</td></tr>')
    return "<table>" + head + "".join(body) + "</table>"


def _detection_section(doc: dict[str, Any]) -> str:
    d = doc.get("detection")
    if not d or not d["scenarios_monitored"]:
        return ""
    iv = d["intervals"] or {}
    text = (f"<h2>Detection against the alert budgets</h2><p>Budget = lead + the rule's <code>for</code> + scrape "
            f"interval ({_value(iv.get('scrape_seconds'))} s) + evaluation interval "
            f"({_value(iv.get('evaluation_seconds'))} s) + Alertmanager's group_wait "
            f"({_value(iv.get('group_wait_seconds'))} s); seconds from the condition's instant. Pending and firing are "
            "Prometheus's own rule-evaluation instants (the ALERTS series); notified is when the harness's receiver "
            "got Alertmanager's notification. Rules file SHA-256 "
            f"<code>{_value(iv.get('rules_sha256'))}</code>.</p>")
    text += _detections(d["rows"], with_scenario=True) or "<p>No drill of this run raised an alert condition.</p>"
    fp = d["false_positives"]
    text += ("<p><b>False positives</b> (a critical alert fired with no fault in force): "
             + (escape("; ".join(fp)) if fp else f"none in {d['scenarios_monitored']} monitored scenario(s)") + "</p>")
    if d["uncovered"]:
        text += "<p><b>Faults no alert watches:</b></p><ul>" + "".join(
            f"<li>{escape(u)}</li>" for u in d["uncovered"]) + "</ul>"
    return text


def _compliance(doc: dict[str, Any]) -> str:
    parts = ["<h2>Compliance mapping</h2><p>Which controls this run's scenarios evidence, and what exactly each "
             "shows. A failed scenario still evidences that the test ran; its deviations are the findings.</p>"]
    for c in doc["compliance"]:
        rows = "".join(f"<li>{escape(r['scenario'])} {_badge(r['status'])}: {escape(r['evidences'])}</li>"
                       for r in c["scenarios"])
        body = f"<ul>{rows}</ul>" if rows else "<p><b>Not evidenced by this run.</b></p>"
        parts.append(f"<h3>{escape(c['control'])} <span class=\"muted\">({escape(c['framework'])})</span></h3>"
                     f"<p>{escape(c['requirement'])}</p>{body}")
    if doc["evidences_no_listed_control"]:
        parts.append("<p>Run, but evidence none of these controls: "
                     + escape(", ".join(doc["evidences_no_listed_control"])) + "</p>")
    return "".join(parts)


def _security(doc: dict[str, Any]) -> str:
    """Each security control of the spec: how this run checked it, the result, and every finding."""
    sec = doc.get("security")
    if not sec or not sec["checked"]:
        return ""
    parts = [f"<h2 id=\"security\">Security controls</h2><p>{sec['met']} of {sec['checked']} control(s) checked by "
             "this run met. Each was read from the running platform; the findings name every endpoint, volume or role "
             "examined (\"ok\" or \"FAIL\").</p><table><tr><th>Control</th><th>PCI DSS v4.0</th><th>SOC 2</th>"
             "<th>Verdict</th><th>How it was checked (scenario)</th></tr>"]
    for c in sec["controls"]:
        css = {"met": "PASS", "NOT MET": "FAIL"}.get(c["verdict"], "n/a")
        how = "".join(f"<li>{escape(k['how'])} ({escape(k['scenario'])}) {_badge('PASS' if k['passed'] else 'FAIL')}"
                      f"<details><summary>{len(k['findings'])} finding(s)</summary><ul>"
                      + "".join(f"<li><code>{escape(f)}</code></li>" for f in k["findings"]) + "</ul></details></li>"
                      for k in c["checks"])
        parts.append(f"<tr><td>{escape(c['control'])}</td><td>{escape(', '.join(c['pci_dss']))}</td>"
                     f"<td>{escape(', '.join(c['soc2']))}</td><td><span class=\"badge {css}\">{escape(c['verdict'])}"
                     f"</span></td><td>{f'<ul>{how}</ul>' if how else 'not checked by this run'}</td></tr>")
    parts.append("</table><p class=\"muted\">A check evidences the technical property it observed (e.g. ciphertext "
                 "on the volume), not the procedures around it (key management, log review, access reviews).</p>")
    return "".join(parts)


def render(doc: dict[str, Any], images: dict[str, bytes]) -> str:
    """The whole page; `images` maps each plot's run-relative path to its PNG bytes."""
    body = (_header(doc) + _summary_table(doc) + _detection_section(doc) + _security(doc) + "<h2>Scenarios</h2>"
            + "".join(_scenario(s, images) for s in doc["scenarios"]) + _compliance(doc))
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>DR drill evidence {escape(doc['drill_id'])}</title><style>{CSS}</style></head>"
            f"<body>{body}</body></html>\n")
