"""Allure: attach the evidence files to the scenario results allure-pytest-bdd wrote, and build the HTML.

Attachments follow the allure-results format: the file is copied to <uuid>-attachment.<ext> beside the
result and listed in the result's "attachments". The uuid is derived from the result and the attachment
name, so rebuilding a report replaces rather than duplicates. The HTML comes from the npm `allure`
package (Allure 3, no Java) where it is installed; where it is not, that is said in one line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

RESULTS_DIR = "allure-results"
REPORT_DIR = "allure-report"
NAMESPACE = uuid.UUID("6f1d3c1e-2b8e-4c7a-9d0e-5a4f3b2c1d00")
MIME = {".png": "image/png", ".json": "application/json", ".csv": "text/csv", ".jsonl": "application/x-ndjson",
        ".txt": "text/plain", ".html": "text/html"}


def _results(results_dir: Path) -> list[tuple[Path, dict]]:
    found = []
    for path in sorted(results_dir.glob("*-result.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # not ours to repair; the Allure HTML shows what it can of it
        if isinstance(data, dict):
            found.append((path, data))
    return found


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _matches(result: dict, scenario: str, feature: str) -> bool:
    """allure-pytest-bdd 2.16 names a result after the scenario (an outline's row with its values put
    in, so "<what>" in a template matches any value) and its fullName is "<path>.feature:<name>";
    the feature must agree too, since two features may share a scenario name."""
    name = str(result.get("name", ""))
    pattern = re.sub(r"<[^<>]+>", ".+?", re.escape(scenario))
    if not re.fullmatch(pattern, name):
        return False
    full = str(result.get("fullName", ""))
    if ".feature:" not in full:
        return True  # nothing says which feature: the name is all there is
    stem = Path(full.split(".feature:", 1)[0]).name
    labels = {_norm(str(lab.get("value", ""))) for lab in result.get("labels", [])
              if isinstance(lab, dict) and lab.get("name") == "feature"}
    wanted = _norm(Path(feature).stem if feature.endswith(".feature") else feature)
    return wanted == _norm(stem) or wanted in labels


def attach(run_dir: Path, scenario: str, feature: str, files: dict[str, Path]) -> list[str]:
    """Attach `files` (attachment name -> file) to every Allure result of the scenario; returns the
    run-relative paths of the attachment files written (none when there is no matching result)."""
    results_dir = (run_dir / RESULTS_DIR).resolve()  # absolute: the tool runs with its cwd in the run directory
    if not results_dir.is_dir():
        return []
    written = []
    for path, result in _results(results_dir):
        if not _matches(result, scenario, feature):
            continue
        listed = [a for a in result.get("attachments", []) if isinstance(a, dict)]
        for name, source in files.items():
            ident = uuid.uuid5(NAMESPACE, f"{result.get('uuid', path.name)}/{name}")
            target = results_dir / f"{ident}-attachment{source.suffix}"
            shutil.copyfile(source, target)
            listed = [a for a in listed if a.get("source") != target.name]
            listed.append({"name": name, "source": target.name, "type": MIME.get(source.suffix, "text/plain")})
            written.append(target.relative_to(run_dir).as_posix())
        result["attachments"] = listed
        path.write_text(json.dumps(result, indent=1))
    return written


def allure_command() -> list[str] | None:
    """DRILL_ALLURE, else the copy scripts/setup.sh installs into the checkout, else `allure` on PATH."""
    if "DRILL_ALLURE" in os.environ:  # set, but not a program (e.g. empty): Allure is off
        found = shutil.which(os.environ["DRILL_ALLURE"]) if os.environ["DRILL_ALLURE"] else None
        return [found] if found else None
    for parent in Path(__file__).resolve().parents:
        local = parent / ".tools" / "allure" / "node_modules" / ".bin" / "allure"
        if local.exists():
            return [str(local)]
    found = shutil.which("allure")
    return [found] if found else None


def generate_html(run_dir: Path, timeout: float = 300) -> str:
    """Build <run>/allure-report from <run>/allure-results; returns the line to print either way."""
    results_dir = (run_dir / RESULTS_DIR).resolve()  # absolute: the tool runs with its cwd in the run directory
    if not results_dir.is_dir():
        return f"allure: skipped, no {results_dir}"
    command = allure_command()
    if command is None or shutil.which("node") is None:
        return "allure: skipped, the npm 'allure' package (Allure 3) is not installed (scripts/setup.sh installs it " \
               "where npm exists)"
    out = (run_dir / REPORT_DIR).resolve()
    shutil.rmtree(out, ignore_errors=True)
    try:
        done = subprocess.run([*command, "generate", str(results_dir), "-o", str(out)], capture_output=True,
                              text=True, timeout=timeout, env=dict(os.environ, NO_COLOR="1"), cwd=run_dir)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"allure: HTML generation failed: {exc}"
    if done.returncode != 0 or not (out / "index.html").is_file():
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"allure: HTML generation failed (exit {done.returncode}): {last[0]}"
    return f"allure: HTML report in {out}"
