"""The weekly chart: reasons this period against the period before, as a PNG.

Built on matplotlib's object API with the Agg canvas (no pyplot, no global figure state),
so it is safe in worker threads and never needs a display.
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from surveys.reports.figures import Figures
from surveys.vocabulary import category_label

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_BARS = 8


def reasons_chart(figures: Figures) -> bytes:
    """Grouped horizontal bars per reason: this period and the previous one."""
    reasons = sorted(figures.reasons, key=lambda r: (-r.count, -r.previous_count, r.category))
    reasons = reasons[:MAX_BARS]
    figure = Figure(figsize=(7, 0.55 * max(len(reasons), 2) + 1.4), dpi=110)
    FigureCanvasAgg(figure)
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
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
