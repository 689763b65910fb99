"""The weekly chart: reasons this period against the period before, as a PNG; below them,
when exit surveys made offers (or payments failed) in the period, the saves.

Built on matplotlib's object API with the Agg canvas (no pyplot, no global figure state),
so it is safe in worker threads and never needs a display.
"""

from __future__ import annotations

import io

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from surveys.reports.figures import Figures
from surveys.vocabulary import category_label

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_BARS = 8


def save_bars(figures: Figures) -> list[tuple[str, int]]:
    """The saves panel's bars, top to bottom; empty when the period had no offers and no
    failed or recovered payments."""
    bars: list[tuple[str, int]] = []
    saves = figures.saves
    if saves is not None and saves.offered:
        bars += [
            ("offers made", saves.offered),
            ("offers accepted", saves.accepted),
            ("saved", saves.saved),
        ]
    recoveries = figures.recoveries
    if recoveries is not None and recoveries.any:
        bars += [("payments failed", recoveries.failed), ("recovered", recoveries.recovered)]
    return bars


def reasons_chart(figures: Figures) -> bytes:
    """Grouped horizontal bars per reason: this period and the previous one; the saves."""
    figure = chart_figure(figures)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def chart_figure(figures: Figures) -> Figure:
    """The chart's figure, before rendering (tests read the bars from it)."""
    reasons = sorted(figures.reasons, key=lambda r: (-r.count, -r.previous_count, r.category))
    reasons = reasons[:MAX_BARS]
    saves = save_bars(figures)
    reasons_height = 0.55 * max(len(reasons), 2) + 1.4
    saves_height = 0.4 * len(saves) + 1.0 if saves else 0.0
    figure = Figure(figsize=(7, reasons_height + saves_height), dpi=110)
    FigureCanvasAgg(figure)
    if saves:
        axes, saves_axes = figure.subplots(
            2, 1, height_ratios=[reasons_height, saves_height], squeeze=True
        )
        _plot_saves(saves_axes, saves)
    else:
        axes = figure.add_subplot()
    if not reasons:
        axes.text(0.5, 0.5, "No exit survey answers", ha="center", va="center")
        axes.set_axis_off()
    else:
        labels = [category_label(reason.category) for reason in reversed(reasons)]
        now = [reason.count for reason in reversed(reasons)]
        before = [reason.previous_count for reason in reversed(reasons)]
        positions = range(len(reasons))
        height = 0.38
        axes.barh([p + height / 2 for p in positions], now, height, label=figures.period.label)
        axes.barh(
            [p - height / 2 for p in positions], before, height, label="previous", color="#b0b7c3"
        )
        axes.set_yticks(list(positions), labels)
        axes.set_xlabel("exit survey answers")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend(loc="lower right", frameon=False)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
    axes.set_title(f"Churn reasons · {figures.period.label}", loc="left")
    return figure


def _plot_saves(axes: Axes, bars: list[tuple[str, int]]) -> None:
    labels = [label for label, _ in reversed(bars)]
    counts = [count for _, count in reversed(bars)]
    axes.barh(range(len(bars)), counts, 0.6, color="#3a8f5c", gid="saves")
    axes.set_yticks(list(range(len(bars))), labels)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title("Saves", loc="left")
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
