"""Layout checks of a matplotlib figure from its own artists' drawn extents (not by eye).

`layout_problems(figure)` draws the figure and lists: a legend that overlaps the data area of an axes, two
tick labels of one axis that overlap, a title or label that runs into another axes, and any text that
leaves the figure (cut off in the PNG). Empty when the layout is clean.
"""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox


def _overlap(a: Bbox, b: Bbox, slack: float = 0.5) -> bool:
    return a.x0 < b.x1 - slack and b.x0 < a.x1 - slack and a.y0 < b.y1 - slack and b.y0 < a.y1 - slack


def _drawn(ticks: list[float], labels: list[Text], limits: tuple[float, float]) -> list[Text]:
    """The tick labels matplotlib draws: with text, visible, and at a tick inside the view limits."""
    low, high = sorted(limits)
    return [t for x, t in zip(ticks, labels, strict=False) if t.get_text() and t.get_visible() and low <= x <= high]


def layout_problems(figure: Figure) -> list[str]:
    canvas = figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    page = figure.bbox
    axes = [a for a in figure.axes if a.get_visible()]
    legends = [*figure.legends, *(a.get_legend() for a in axes if a.get_legend() is not None)]
    problems = []
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for i, ax in enumerate(axes):
            if _overlap(box, ax.get_window_extent(renderer)):
                problems.append(f"legend overlaps the plot area of axes {i} ({ax.get_title()!r})")
        if not page.contains(box.x0 + 0.5, box.y0 + 0.5) or not page.contains(box.x1 - 0.5, box.y1 - 0.5):
            problems.append("legend leaves the figure")
    for i, ax in enumerate(axes):
        drawn = [_drawn(ax.get_xticks(), ax.get_xticklabels(), ax.get_xlim()),
                 _drawn(ax.get_yticks(), ax.get_yticklabels(), ax.get_ylim())]
        labels = drawn[0] + drawn[1]
        for axis_labels in drawn:
            boxes = [t.get_window_extent(renderer) for t in axis_labels]
            for j in range(len(boxes)):
                for k in range(j + 1, len(boxes)):
                    if _overlap(boxes[j], boxes[k]):
                        problems.append(f"axes {i}: tick labels {j} and {k} overlap")
        texts = [*labels, ax.title, ax.xaxis.label, ax.yaxis.label]
        for t in (t for t in texts if t.get_text()):
            box = t.get_window_extent(renderer)
            if box.x0 < page.x0 - 1 or box.x1 > page.x1 + 1 or box.y0 < page.y0 - 1 or box.y1 > page.y1 + 1:
                problems.append(f"axes {i}: text {t.get_text()!r} leaves the figure")
            for j, other in enumerate(axes):
                if j != i and _overlap(box, other.get_window_extent(renderer)):
                    problems.append(f"axes {i}: text {t.get_text()!r} runs into axes {j}")
    return problems
