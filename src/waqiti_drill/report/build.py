"""`drill report`: rebuild a run's evidence/ from its raw files, attach to Allure, scan, then sign.

The order matters: everything that writes into the run (plots, report, Allure attachments) runs first,
then the secrets scan over the whole run directory, and only a clean run is signed. A run that fails the
scan keeps its (unsigned) report so the leak can be traced, and `verify` of it fails.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from waqiti_drill.checker.report import render_table
from waqiti_drill.checker.result import CheckResult
from waqiti_drill.errors import SecretLeak
from waqiti_drill.report import allure, detection, html, plots
from waqiti_drill.report.document import build_document
from waqiti_drill.report.manifest import EVIDENCE_DIR, fingerprint, load_or_create_key, sign_run
from waqiti_drill.report.model import ROLES_FILE, Run, fault_wall, inside, load_run, read_roles, slug, throughput
from waqiti_drill.report.redact import scan_paths
from waqiti_drill.results import RESULTS_FILE, ScenarioResult


@dataclass
class Built:
    run_dir: Path
    files: list[Path] = field(default_factory=list)  # the evidence files written
    plots: int = 0
    allure_line: str = ""
    secrets_scanned: int = 0
    signed_files: int = 0
    seconds: float = 0.0


def _scenario_plots(run: Run, result: ScenarioResult, index: int, out: Path) -> dict[str, Path]:
    """The two PNGs of one scenario, written under evidence/plots/; {} when it has no history."""
    where = f"{run.dir / RESULTS_FILE}[{index}]"
    origin = fault_wall(result, where)
    name = slug(result)
    drawn: dict[str, Path] = {}
    history = inside(run.dir, result.paths.history, where)
    if history is not None and history.exists():
        series = throughput(history, origin)
        path = out / f"{name}-throughput.png"
        path.write_bytes(plots.throughput_png(series, f"{result.scenario}: writes per second", origin is not None))
        drawn["throughput"] = path
    if result.detections:
        path = out / f"{name}-alerts.png"
        path.write_bytes(detection.alerts_png(result))
        drawn["alerts"] = path
    scenario_dir = inside(run.dir, result.paths.dir, where)
    roles = read_roles(scenario_dir / ROLES_FILE) if scenario_dir else []
    if roles:
        path = out / f"{name}-roles.png"
        path.write_bytes(plots.roles_png(roles, origin, f"{result.scenario}: member roles"))
        drawn["roles"] = path
    return drawn


def _history_summary(run: Run, result: ScenarioResult, out: Path) -> Path | None:
    """The checker's own table (per service and shard), rendered from the scenario's check.json: the
    summary of the history an engineer reads first. None when the scenario has no check.json."""
    path = inside(run.dir, result.paths.check, f"{run.dir / RESULTS_FILE}")
    if path is None or not path.is_file():
        return None
    text = render_table(CheckResult.read(path))  # a file that is not a checker result is one InvalidConfig
    target = out / f"{slug(result)}-history-summary.txt"
    target.write_text(text + "\n")
    return target


def _attachments(run: Run, result: ScenarioResult, drawn: dict[str, Path], summary: Path | None) -> list[str]:
    files = {f"{kind} plot": path for kind, path in drawn.items()}
    if summary is not None:
        files["history summary"] = summary
    where = f"{run.dir / RESULTS_FILE}"
    for label, rel in (("chaostoolkit journal", result.paths.journal), ("Locust stats", result.paths.locust_stats),
                       ("check result (JSON)", result.paths.check)):
        path = inside(run.dir, rel, where)
        if path is not None and path.is_file():
            files[label] = path
    return allure.attach(run.dir, result.scenario, result.feature, files)


def build(run_dir: Path, key_path: Path, secrets: dict[str, str]) -> Built:
    """Rebuild evidence/, attach to Allure, scan for `secrets` (name -> value), sign; SecretLeak on a hit."""
    started = time.monotonic()
    run = load_run(run_dir)
    key = load_or_create_key(key_path)  # before anything is written: a bad key fails fast
    evidence = run_dir / EVIDENCE_DIR
    shutil.rmtree(evidence, ignore_errors=True)  # rebuilt from raw data only: nothing old survives
    (evidence / "plots").mkdir(parents=True)
    (evidence / "summaries").mkdir()
    built = Built(run_dir=run_dir)
    plot_paths: dict[str, dict[str, str]] = {}
    attached: dict[str, list[str]] = {}
    images: dict[str, bytes] = {}
    summaries: dict[str, str] = {}
    for index, result in enumerate(run.results):
        drawn = _scenario_plots(run, result, index, evidence / "plots")
        plot_paths[slug(result)] = {k: p.relative_to(run_dir).as_posix() for k, p in drawn.items()}
        images.update({p.relative_to(run_dir).as_posix(): p.read_bytes() for p in drawn.values()})
        summary = _history_summary(run, result, evidence / "summaries")
        if summary is not None:
            summaries[slug(result)] = summary.read_text()
        attached[slug(result)] = _attachments(run, result, drawn, summary)
        built.files += drawn.values()
        built.plots += len(drawn)
    integrity = {"signing_key_fingerprint": fingerprint(key.public_key()), "secrets_scanned_for": len(secrets),
                 "signed_only_if": "no known secret is found in any file of the run directory"}
    document = build_document(run, plot_paths, attached, summaries, integrity)
    (evidence / "report.json").write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    (evidence / "report.html").write_text(html.render(document, images), encoding="utf-8")
    built.files += [evidence / "report.json", evidence / "report.html", *(evidence / "summaries").iterdir()]
    built.allure_line = allure.generate_html(run_dir)
    built.secrets_scanned = len(secrets)
    hits = scan_paths([run_dir], secrets)
    if hits:
        shown = "; ".join(str(h) for h in hits[:5]) + (f"; and {len(hits) - 5} more" if len(hits) > 5 else "")
        raise SecretLeak(f"refusing to sign {run_dir}: {shown}")
    built.signed_files = len(sign_run(run_dir, key)["files"])  # type: ignore[arg-type]
    built.seconds = time.monotonic() - started
    return built
