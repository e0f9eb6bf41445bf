"""Reading a recorded run: the manifest, the results, and the raw series the plots are drawn from.

Everything here reads files under the run directory and nothing else, so `drill report` can rebuild the
evidence of a run archived months ago. Bad input is one InvalidConfig naming the file (and line).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from waqiti_drill import timefmt
from waqiti_drill.errors import InvalidConfig
from waqiti_drill.results import (
    MANIFEST_FILE,
    RESULTS_FILE,
    RunManifest,
    ScenarioResult,
    read_manifest,
    read_results,
)

ROLES_FILE = "roles.jsonl"


@dataclass
class Run:
    dir: Path
    manifest: RunManifest
    results: list[ScenarioResult]


@dataclass
class Throughput:
    """Per-second counts of completed writes of each service, by second relative to the fault (or the
    first operation). Per service, because a fault of one (a PostgreSQL primary frozen) leaves the other
    (Redis) writing at full rate: one summed line would hide the outage being shown."""

    seconds: list[int] = field(default_factory=list)
    ok: dict[str, list[int]] = field(default_factory=dict)
    errors: dict[str, list[int]] = field(default_factory=dict)  # fail + info: certainly or possibly not applied
    origin_wall: float | None = None  # wall time of second 0


@dataclass
class RoleSample:
    wall: float
    members: dict[str, str]


def resolve_run_dir(target: str, reports_dir: Path) -> Path:
    """A run id (a directory under reports_dir) or a path to a run directory."""
    candidates = [Path(target), reports_dir / target]
    for path in candidates:
        if (path / RESULTS_FILE).is_file() or (path / MANIFEST_FILE).is_file():
            return path
    for path in candidates:
        if path.is_dir():
            raise InvalidConfig(f"{path / RESULTS_FILE}: no such file (is this a drill run directory?)")
    raise InvalidConfig(f"{reports_dir / target}: unknown run id or directory (no such directory)")


def load_run(run_dir: Path) -> Run:
    return Run(dir=run_dir, manifest=read_manifest(run_dir), results=read_results(run_dir))


def slug(result: ScenarioResult) -> str:
    """The scenario's directory name when it has one, else a file-safe form of its name."""
    if result.paths.dir:
        return Path(result.paths.dir).name
    text = re.sub(r"[^A-Za-z0-9]+", "_", f"{result.feature}_{result.scenario}").strip("_").lower()
    return text or "scenario"


def parse_utc(text: str | None, where: str) -> float | None:
    """Epoch seconds from an ISO 8601 UTC string (as results.json carries), None for None; timefmt's one
    parser, wrapped so a bad value is a one-line InvalidConfig naming the file (`where`) it came from."""
    if text is None:
        return None
    try:
        return timefmt.parse_utc(text)
    except ValueError:
        raise InvalidConfig(f"{where}: not an ISO 8601 timestamp: {text!r}") from None


def fault_wall(result: ScenarioResult, where: str) -> float | None:
    text = result.timeline.fault_injected or (result.fault.injected_at if result.fault else None)
    return parse_utc(text, where)


def inside(run_dir: Path, relative: str | None, where: str) -> Path | None:
    """A path from a record, which must stay inside the run directory (records are relative to it)."""
    if not relative:
        return None
    path = (run_dir / relative).resolve()
    if not path.is_relative_to(run_dir.resolve()):
        raise InvalidConfig(f"{where}: path {relative!r} leaves the run directory")
    return path


def throughput(history: Path, origin_wall: float | None) -> Throughput:
    """Completed writes per second from the operation history, by service and outcome (read with the
    checker's own parser, so the plot shows exactly the operations the figures were computed from)."""
    from waqiti_drill.checker.load import OK, load

    h = load(history)
    w = h.writes
    done = np.isfinite(w.comp_wall)
    walls, groups, acked = w.comp_wall[done], w.group[done], w.outcome[done] == OK
    origin = origin_wall if origin_wall is not None else (float(walls.min()) if walls.size else None)
    if origin is None or not walls.size:
        return Throughput(origin_wall=origin)
    names = [g[0] for g in h.groups]
    service_of = np.asarray([names.index(n) for n in names], dtype=np.int32)[groups]
    bins = np.floor(walls - origin).astype(np.int64)
    first, last = int(bins.min()), int(bins.max())
    services = sorted(set(names[i] for i in np.unique(groups)))
    out = Throughput(seconds=list(range(first, last + 1)), origin_wall=origin)
    for service in services:
        rows = service_of == names.index(service)
        out.ok[service] = np.bincount(bins[rows & acked] - first, minlength=last - first + 1).tolist()
        out.errors[service] = np.bincount(bins[rows & ~acked] - first, minlength=last - first + 1).tolist()
    return out


def read_roles(path: Path) -> list[RoleSample]:
    """roles.jsonl: {"wall": epoch, "members": {"pg1": "primary", ...}} per line; absent file: none."""
    if not path.is_file():
        return []
    samples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidConfig(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        wall = record.get("wall") if isinstance(record, dict) else None
        members = record.get("members") if isinstance(record, dict) else None
        if not isinstance(wall, int | float) or not isinstance(members, dict):
            raise InvalidConfig(f"{path}:{number}: expected {{\"wall\": <epoch>, \"members\": {{...}}}}")
        samples.append(RoleSample(wall=float(wall), members={str(k): str(v) for k, v in members.items()}))
    return sorted(samples, key=lambda s: s.wall)
