"""Pain and OMED trajectory plots (matplotlib, headless Agg backend), as PNG bytes."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bot.i18n import _  # noqa: E402


def trajectory_png(
    study_id: str, days: Sequence[int], pains: Sequence[int | None], omeds: Sequence[float | None],
    *, rt_days: Sequence[int],
) -> bytes:
    """Worst pain (0–10) and OMED (mg/day) against study day, radiotherapy fractions shaded."""
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=100)
    try:
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
        fig.tight_layout()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(fig)
