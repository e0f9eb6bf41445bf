"""The report's plots as PNG bytes: write throughput and errors around the fault, and member roles.

matplotlib's object API on the Agg canvas (no pyplot): no global figure state and no display needed, so
plots draw the same in CI, in a test and on an auditor's laptop. PNG metadata is left without a software
stamp so the same raw data gives the same bytes.
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from waqiti_drill.report.model import RoleSample, Throughput

ROLE_COLOURS = {"primary": "#1f77b4", "sync_standby": "#2ca02c", "replica": "#98df8a", "unknown": "#bbbbbb",
                "down": "#d62728"}
OTHER_COLOUR = "#ff7f0e"
SERVICE_STYLES = ("-", ":", "-.")  # one line style per service; colour says acknowledged (blue) or not (red)


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=100, metadata={"Software": None})
    return out.getvalue()


def throughput_png(series: Throughput, title: str, fault_marked: bool) -> bytes:
    return _png(throughput_figure(series, title, fault_marked))


def roles_png(samples: list[RoleSample], origin_wall: float | None, title: str) -> bytes:
    return _png(roles_figure(samples, origin_wall, title))


def throughput_figure(series: Throughput, title: str, fault_marked: bool) -> Figure:
    """Acknowledged writes and errors per second of each service; the fault instant is x = 0 when known."""
    figure = Figure(figsize=(10, 3.2))
    axes = figure.add_subplot()
    if series.seconds:
        for index, service in enumerate(series.ok):
            style = SERVICE_STYLES[index % len(SERVICE_STYLES)]
            axes.step(series.seconds, series.ok[service], where="post", color="#1f77b4", linestyle=style,
                      label=f"{service}: acknowledged writes/s")
            axes.step(series.seconds, series.errors[service], where="post", color="#d62728", linestyle=style,
                      label=f"{service}: failed or unknown writes/s")
    else:
        axes.text(0.5, 0.5, "no write operations in the history", ha="center", va="center", transform=axes.transAxes)
    if fault_marked:
        axes.axvline(0, color="black", linestyle="--", linewidth=1.2, label="fault injected")
    axes.set_xlabel("seconds from the fault" if fault_marked else "seconds from the first operation")
    axes.set_ylabel("operations per second")
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    if series.seconds or fault_marked:
        axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: never over the data
    figure.tight_layout()
    return figure


def roles_figure(samples: list[RoleSample], origin_wall: float | None, title: str) -> Figure:
    """One bar per member, coloured by the role each sample saw until the next sample."""
    figure = Figure(figsize=(8, 2.6))
    axes = figure.add_subplot()
    origin = origin_wall if origin_wall is not None else (samples[0].wall if samples else 0.0)
    members = sorted({m for s in samples for m in s.members})
    # the last sample holds for one sampling interval
    step = (samples[-1].wall - samples[0].wall) / (len(samples) - 1) if len(samples) >= 2 else 1.0
    seen: set[str] = set()
    for row, member in enumerate(members):
        for i, sample in enumerate(samples):
            end = samples[i + 1].wall if i + 1 < len(samples) else sample.wall + step
            role = sample.members.get(member, "unknown")
            colour = ROLE_COLOURS.get(role, OTHER_COLOUR)
            label = None if role in seen else role
            seen.add(role)
            axes.broken_barh([(sample.wall - origin, end - sample.wall)], (row - 0.4, 0.8), facecolors=colour,
                             label=label)
    if not samples:
        axes.text(0.5, 0.5, "no role samples (roles.jsonl)", ha="center", va="center", transform=axes.transAxes)
    if origin_wall is not None:
        axes.axvline(0, color="black", linestyle="--", linewidth=1.2, label="fault injected")
    axes.set_yticks(range(len(members)), members)
    axes.set_xlabel("seconds from the fault" if origin_wall is not None else "seconds from the first sample")
    axes.set_title(title, fontsize=10)
    if samples:
        axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    return figure
