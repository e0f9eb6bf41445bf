"""How `drill run` shows a run in progress: a live panel on a terminal, one timestamped line per phase
without one (CI logs), or nothing with -q.

A watcher thread polls the run directory (suite/livestate.py) twice a second while pytest runs in its
subprocess; pytest's own output goes to <run>/pytest.log. The live panel (rich) shows scenario n of N, the
current step, the fault in force (what, on which member) and for how long, writes and errors per second
per service as the clients recorded them, the PostgreSQL members' roles, and an ETA from earlier runs.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import IO, Any

from waqiti_drill.suite.estimates import human
from waqiti_drill.suite.livestate import Note, RunFeed, Snapshot
from waqiti_drill.timefmt import now_utc_iso, utc_iso

MODES = ("auto", "live", "plain", "pytest")
POLL_SECONDS = 0.5


def plain_line(note: Note, total: int | None) -> str:
    where = f" [{note.n}/{total if total is not None else '?'}]" if note.n is not None else ""
    return f"{utc_iso(note.wall)}{where} {note.text}"


def _eta(s: Snapshot) -> str:
    if s.eta_seconds is None:
        return "ETA unknown"
    if s.eta_unknown and not s.eta_seconds:
        return f"ETA unknown ({s.eta_unknown} never run before)"
    more = f" + {s.eta_unknown} never run before" if s.eta_unknown else ""
    return f"ETA ~{human(s.eta_seconds)}{more}"


def _fault(s: Snapshot, now: float) -> str:
    if s.fault is not None:
        since = now - s.fault.injected_wall
        return f"[bold red]{s.fault.name}[/] on [bold]{s.fault.target}[/], in force for {since:.0f} s"
    if s.last_fault is not None and s.last_fault.undone_wall is not None:
        f = s.last_fault
        return f"none in force ({f.name} on {f.target} undone {now - f.undone_wall:.0f} s ago)"
    return "none yet"


def _writes(s: Snapshot) -> str:
    if not s.writes:
        return "no load yet"
    parts = []
    for service, r in s.writes.items():
        colour = "red" if r.errors_per_second > 0 or r.ok_per_second == 0 else "green"
        stalled = f", a write waiting {r.open_for:.0f} s" if r.open_for is not None and r.open_for >= 2 else ""
        parts.append(f"{service} [{colour}]{r.ok_per_second:.0f} ok/s, {r.errors_per_second:.0f} errors/s{stalled}[/] "
                     f"({r.ok_total} acked, {r.errors_total} failed or unknown)")
    return "\n".join(parts)


def _roles(s: Snapshot) -> str:
    colours = {"primary": "bold blue", "down": "bold red", "unknown": "yellow"}
    return "  ".join(f"{m} [{colours.get(r, 'green')}]{r}[/]" for m, r in s.roles.items()) or "no sample yet"


def panel(s: Snapshot, now: float) -> Any:  # noqa: ANN401 - a rich renderable
    from rich.panel import Panel
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column()
    done = sum(s.counts.values())
    if s.n is not None:
        grid.add_row("scenario", f"[bold]{s.n} of {s.total}[/]  {s.name}")
        since = now - (s.scenario_started or now)
        step = f"{s.step_index}/{s.steps}  {s.step}" if s.step else "setting up"
        grid.add_row("step", step if s.phase == "running" else f"[yellow]heal, read back, check[/] ({step})")
        grid.add_row("running for", f"{since:.0f} s")
        grid.add_row("fault", _fault(s, now))
        grid.add_row("writes", _writes(s))
        grid.add_row("roles", _roles(s))
    else:
        grid.add_row("scenario", "collecting" if s.total is None else f"{done} of {s.total} done")
    grid.add_row("so far", f"[green]{s.counts['passed']} passed[/], [red]{s.counts['failed']} failed[/], "
                 f"{s.counts['skipped']} skipped")
    title = f"drill run {s.run_id}  ·  {human(now - s.started)} elapsed  ·  {_eta(s)}"
    return Panel(grid, title=title, title_align="left", border_style="blue")


class Watcher:
    """Polls the feed until stopped; prints notes (plain) or redraws the panel (live)."""

    def __init__(self, feed: RunFeed, mode: str, out: IO[str] | None = None) -> None:
        self.feed, self.mode = feed, mode
        self.out = out or sys.stdout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drill-live-view", daemon=True)
        self._live: Any = None

    def __enter__(self) -> Watcher:
        if self.mode == "live":
            from rich.console import Console
            from rich.live import Live

            self._live = Live(console=Console(file=self.out), refresh_per_second=4, transient=True)
            self._live.start()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._tick()  # what happened after the last poll (the last scenario's end)
        if self._live is not None:
            self._live.stop()

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self._tick()
            except Exception as exc:  # noqa: BLE001 - a broken view must never stop the drill
                self._print(f"{now_utc_iso()} live view: {type(exc).__name__}: {exc}")
                return

    def _tick(self) -> None:
        now = time.time()
        snap, notes = self.feed.poll(now)
        for note in notes:
            self._print(plain_line(note, snap.total))
        if self._live is not None:
            self._live.update(panel(snap, now))

    def _print(self, line: str) -> None:
        if self._live is not None:
            self._live.console.print(line, markup=False, highlight=False)
        else:
            self.out.write(line + "\n")
            self.out.flush()


def choose_mode(requested: str, quiet: bool, isatty: bool) -> str:
    """quiet wins; auto is live on a terminal and plain elsewhere (CI)."""
    if quiet:
        return "quiet"
    if requested == "auto":
        return "live" if isatty else "plain"
    return requested
