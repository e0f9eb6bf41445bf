"""The trend drawn: one small plot per scenario (RTO and RPO per run), and trend.html around it.

Small multiples rather than one crowded axes: each scenario keeps its own scale (a 5 s freeze and a 25 s
site rebuild are both readable), its short name as the title, and one legend for the whole figure,
placed outside every plot by the constrained layout. Run labels (the runs' start dates) are thinned
until no two overlap, measured from the drawn labels' own extents, which the tests check the same way.
"""

from __future__ import annotations

import base64
import math
from html import escape

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from waqiti_drill.report.plots import _png

Series = dict[str, list[tuple[str, float | None, float | None, str]]]  # short name -> (run, rto, rpo, status)
COLUMNS = 3
RTO_COLOUR, RPO_COLOUR, FAILED_COLOUR = "#1f77b4", "#ff7f0e", "#d62728"


def _labels(runs: list[tuple[str, str]]) -> list[str]:
    """'11-25' per run from its start; with the time when two runs share a day; the id when no start."""
    days = [s[5:10] if len(s) >= 16 else "" for _, s in runs]
    if len(set(days)) == len(days) and all(days):
        return days
    return [f"{s[5:10]} {s[11:16]}" if len(s) >= 16 else run[:12] for run, s in runs]


def _thin(axes: Axes, labels: list[str]) -> None:
    """Keep every k-th tick label (k = 1, 2, 3...) until the drawn labels no longer overlap."""
    renderer = axes.figure.canvas.get_renderer()  # type: ignore[union-attr]
    for step in range(1, len(labels) + 1):
        keep = list(range(len(labels) - 1, -1, -step))[::-1]  # the newest run always labelled
        axes.set_xticks(keep, [labels[i] for i in keep])
        boxes = [t.get_window_extent(renderer) for t in axes.get_xticklabels() if t.get_text()]
        if all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:], strict=False)):
            return


def _panel(axes: Axes, name: str, points: list[tuple[str, float | None, float | None, str]], runs: list[str],
           targets: tuple[float, float]) -> None:
    for colour, marker, pos in ((RTO_COLOUR, "o", 1), (RPO_COLOUR, "s", 2)):
        xs = [runs.index(p[0]) for p in points if p[pos] is not None]
        ys = [p[pos] for p in points if p[pos] is not None]
        if xs:
            axes.plot(xs, ys, color=colour, marker=marker, markersize=4, linewidth=1.2)
    failed = [(runs.index(p[0]), max(v for v in (p[1], p[2], 0.0) if v is not None)) for p in points
              if p[3] == "failed"]
    if failed:
        axes.plot(*zip(*failed, strict=True), linestyle="none", marker="x", markersize=9, color=FAILED_COLOUR,
                  markeredgewidth=2)
    top = max([v for p in points for v in (p[1], p[2]) if v is not None] + [1.0]) * 1.25
    for target, colour in zip(targets, (RTO_COLOUR, RPO_COLOUR), strict=True):
        if target <= top * 2:  # a target far above every figure would flatten the plot: it is in the title
            axes.axhline(target, color=colour, linestyle="--", linewidth=0.8)
            top = max(top, target * 1.1)
    axes.set_ylim(0, top)
    axes.set_xlim(-0.5, len(runs) - 0.5)
    axes.set_title(name, fontsize=9)
    axes.tick_params(labelsize=7)
    axes.grid(alpha=0.3)


def trend_figure(runs: list[tuple[str, str]], series: Series, rto_target: float, rpo_target: float) -> Figure:
    """The grid; `runs` are (run id, started_at) oldest first; scenarios without any figure are left out."""
    plotted = {n: pts for n, pts in sorted(series.items()) if any(p[1] is not None or p[2] is not None for p in pts)}
    rows = max(1, math.ceil(len(plotted) / COLUMNS))
    figure = Figure(figsize=(11, 2.3 * rows + 1.0), layout="constrained")
    FigureCanvasAgg(figure)  # a renderer to measure the drawn labels with
    ids, labels = [r for r, _ in runs], _labels(runs)
    grid = figure.subplots(rows, COLUMNS, squeeze=False)
    for axes, (name, points) in zip(grid.flat, plotted.items(), strict=False):
        _panel(axes, name, points, ids, (rto_target, rpo_target))
        axes.set_xticks(range(len(labels)), labels)
    for axes in list(grid.flat)[len(plotted):]:
        axes.set_visible(False)
    if not plotted:
        figure.text(0.5, 0.5, "no scenario measured an RTO or RPO in these runs", ha="center", va="center")
    figure.supylabel("seconds", fontsize=9)
    figure.suptitle(f"RTO and RPO per run, oldest to newest (targets: RTO {rto_target:g} s, RPO {rpo_target:g} s)",
                    fontsize=10)
    handles = [Line2D([], [], color=RTO_COLOUR, marker="o", label="RTO"),
               Line2D([], [], color=RPO_COLOUR, marker="s", label="RPO"),
               Line2D([], [], color=FAILED_COLOUR, marker="x", linestyle="none", markeredgewidth=2,
                      label="run failed"),
               Line2D([], [], color="grey", linestyle="--", label="target (drawn when in range)")]
    figure.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=8, frameon=False)
    figure.draw_without_rendering()  # lay out, then thin the run labels against their drawn extents
    for axes in list(grid.flat)[: len(plotted)]:
        _thin(axes, labels)
    figure.set_layout_engine("none")  # laid out once: fewer labels need no more room, and saving skips a layout
    return figure


def trend_png(runs: list[tuple[str, str]], series: Series, rto_target: float, rpo_target: float) -> bytes:
    return _png(trend_figure(runs, series, rto_target, rpo_target))


def trend_html(image: bytes, names: dict[str, str], table: str, runs: list[str]) -> str:
    """reports/trend.html: the plot, the table and the short names' full names; self-contained, no script."""
    rows = "".join(f"<tr><td><b>{escape(short)}</b></td><td>{escape(full)}</td></tr>"
                   for full, short in sorted(names.items(), key=lambda kv: kv[1].lower()))
    css = ("body{font-family:system-ui,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1150px;padding:0 1em;"
           "color:#222}img{max-width:100%}table{border-collapse:collapse}td{border:1px solid #ccc;padding:.2em .5em;"
           "font-size:.9em}pre{background:#f7f7f7;padding:.6em;font-size:.8em;overflow-x:auto}")
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>DR drill trend</title>"
            f"<style>{css}</style></head><body><h1>DR drill trend: the last {len(runs)} run(s)</h1>"
            f'<img alt="RTO and RPO per scenario per run" src="data:image/png;base64,'
            f'{base64.b64encode(image).decode()}"><h2>Table</h2><pre>{escape(table)}</pre>'
            f"<h2>Scenarios</h2><table>{rows}</table></body></html>\n")
