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

from bot.i18n import _


def trajectory_png(
    study_id: str, days: Sequence[int], pains: Sequence[int | None], omeds: Sequence[float | None],
    *, rt_days: Sequence[int],
) -> bytes:
    """Worst pain (0–10) and OMED (mg/day) against study day, radiotherapy fractions shaded.

    Safe to call from any thread: the figure belongs to this call only. Laid out with the "constrained" engine and
    saved with a tight bounding box, so the axis labels and the second axis are never cut off.
    """
    fig = Figure(figsize=(7, 3.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    pain_points = [(d, p) for d, p in zip(days, pains) if p is not None]
    if pain_points:
        ax.plot(*zip(*pain_points), marker="o", color="#c0392b", label=_("Worst pain (0-10)"))
    ax.set_ylim(-0.5, 10.5)
    ax.set_xlabel(_("Day after the start of radiotherapy"))
    ax.set_ylabel(_("Worst pain (0-10)"))
    for day in rt_days:
        ax.axvspan(day - 0.5, day + 0.5, color="#f1c40f", alpha=0.3)
    if rt_days:
        ax.axvline(rt_days[0], color="#b7950b", linestyle=":", label=_("Radiotherapy"))
    omed_points = [(d, o) for d, o in zip(days, omeds) if o is not None]
    if omed_points:
        ax2 = ax.twinx()
        ax2.plot(*zip(*omed_points), marker="s", color="#2c3e50", alpha=0.7, label=_("OMED (mg/day)"))
        ax2.set_ylabel(_("OMED (mg/day)"))
        ax2.set_ylim(bottom=0)
    ax.set_title(study_id)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", pad_inches=0.1)
    return buffer.getvalue()
