"""Report figures as base64 PNG, so `report.html` is one self-contained file that can be e-mailed or archived.

matplotlib runs with the Agg backend (no display, no GUI toolkit), chosen through the object API (`Figure`) rather
than `pyplot`, so the report never touches global plotting state of the process that calls it.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.domain.endpoints import PAIN_SCALE_MAX, PAIN_SCALE_MIN
from bot.export.metrics import BASELINE_PLOT_DAY

__all__ = ["mean_pain_png"]

FIGURE_SIZE = (8.0, 4.0)  # inches
DPI = 100


def mean_pain_png(series: Mapping[str, Sequence[tuple[int, float, int]]]) -> str:
    """Mean worst pain over study day, one line per arm; returns the PNG as base64 text."""
    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    for arm, points in series.items():
        if not points:
            continue
        days = [p[0] for p in points]
        means = [p[1] for p in points]
        axes.plot(days, means, marker="o", markersize=3, linewidth=1.5, label=arm)
    axes.set_ylim(PAIN_SCALE_MIN, PAIN_SCALE_MAX)
    axes.set_xlabel(f"Study day (day 0 = first fraction; baseline drawn at day {BASELINE_PLOT_DAY})")
    axes.set_ylabel("Mean worst pain (0-10)")
    axes.set_title("Mean worst pain by study day and arm")
    axes.grid(True, alpha=0.3)
    if any(series.values()):
        axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
