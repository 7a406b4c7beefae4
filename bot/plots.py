"""Pain and OMED trajectory plots, as PNG bytes.

matplotlib's object API (`Figure` + the Agg canvas), never `pyplot`: pyplot keeps global state (the current
figure, the backend) that is not thread-safe, and `/patient` renders in a worker thread (`asyncio.to_thread`) so
the event loop keeps serving every other patient meanwhile. Same approach as the trial report's plot.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from bot.i18n import _


def trajectory_figure(
    study_id: str,
    days: Sequence[int],
    pains: Sequence[int | None],
    omeds: Sequence[float | None],
    *,
    rt_days: Sequence[int],
) -> Figure:
    """The `/patient` figure: worst pain (0–10) and OMED (mg/day) against study day, radiotherapy fractions shaded.

    Issue 39: study days are whole days, so the day axis only has integer ticks (no "−1.5"). The OMED axis is shown
    only when some opioid was taken, from 0 to a little above the largest dose: with no opioid matplotlib would
    otherwise draw a meaningless 0–0.05 mg/day scale; the legend says "No opioid" instead. The legend sits below
    the plot area, where it can never hide a point.
    """
    fig = Figure(figsize=(7, 4.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    pain_points = [(d, p) for d, p in zip(days, pains) if p is not None]
    if pain_points:
        ax.plot(*zip(*pain_points), marker="o", color="#c0392b", label=_("Worst pain (0-10)"))
    ax.set_ylim(-0.5, 10.5)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(_("Day after the start of radiotherapy"))
    ax.set_ylabel(_("Worst pain (0-10)"))
    for day in rt_days:
        ax.axvspan(day - 0.5, day + 0.5, color="#f1c40f", alpha=0.3)
    if rt_days:
        ax.axvline(rt_days[0], color="#b7950b", linestyle=":", label=_("Radiotherapy"))
    handles, labels = ax.get_legend_handles_labels()
    omed_points = [(d, o) for d, o in zip(days, omeds) if o is not None]
    if any(o > 0 for _d, o in omed_points):
        ax2 = ax.twinx()
        ax2.plot(*zip(*omed_points), marker="s", color="#2c3e50", alpha=0.7, label=_("OMED (mg/day)"))
        ax2.set_ylabel(_("OMED (mg/day)"))
        ax2.set_ylim(0, max(o for _d, o in omed_points) * 1.15)
        more_handles, more_labels = ax2.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    elif omed_points:  # doses recorded, all zero: say so rather than draw an empty axis
        handles.append(Line2D([], [], linestyle="none"))
        labels.append(_("No opioid"))
    ax.set_title(study_id)
    ax.grid(alpha=0.3)
    if handles:
        ax.legend(
            handles,
            labels,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.18),
            ncols=len(handles),
            fontsize=8,
            frameon=False,
        )
    return fig


def trajectory_png(
    study_id: str,
    days: Sequence[int],
    pains: Sequence[int | None],
    omeds: Sequence[float | None],
    *,
    rt_days: Sequence[int],
) -> bytes:
    """`trajectory_figure` as PNG bytes, what `/patient` sends.

    Safe to call from any thread: the figure belongs to this call only. Laid out with the "constrained" engine and
    saved with a tight bounding box, so the axis labels, the second axis and the legend below are never cut off.
    """
    fig = trajectory_figure(study_id, days, pains, omeds, rt_days=rt_days)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", pad_inches=0.1)
    return buffer.getvalue()
