"""The `/patient` figure, read through its axes (issue 39): whole-day ticks, a sensible OMED axis, a legend that
hides no point. Built with `trajectory_figure`, the function `trajectory_png` (what the handler sends) draws."""

from __future__ import annotations

from matplotlib.figure import Figure

from bot.plots import trajectory_figure, trajectory_png

DAYS = [0, 1, 2, 3, 5, 7, 14, 21, 30]
PAINS: list[int | None] = [6, 5, None, 4, 3, 3, 2, 2, 1]


def visible_ticks(fig: Figure) -> list[float]:
    ax = fig.axes[0]
    low, high = ax.get_xlim()
    return [t for t in ax.get_xticks() if low <= t <= high]


def test_day_ticks_are_whole_days_even_over_a_few_days() -> None:
    for days in (DAYS, [0, 1, 2, 3], [0, 1]):
        fig = trajectory_figure("P-001", days, [5] * len(days), [None] * len(days), rt_days=[0])
        ticks = visible_ticks(fig)
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_no_opioid_hides_the_omed_axis_and_says_so() -> None:
    fig = trajectory_figure("P-001", DAYS, PAINS, [0.0] * len(DAYS), rt_days=[0, 1, 2, 3, 4])
    assert len(fig.axes) == 1  # no second axis with a 0–0.05 mg/day scale
    legend = fig.axes[0].get_legend()
    assert "aucun opioïde" in [t.get_text() for t in legend.get_texts()]


def test_the_omed_axis_runs_from_zero_to_above_the_largest_dose() -> None:
    omeds: list[float | None] = [30.0, None, 20.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    fig = trajectory_figure("P-001", DAYS, PAINS, omeds, rt_days=[0])
    assert len(fig.axes) == 2
    low, high = fig.axes[1].get_ylim()
    assert low == 0 and 30 < high <= 40
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "Équivalent morphine orale (mg/j)" in labels and "aucun opioïde" not in labels


def test_the_legend_lies_outside_the_plot_area() -> None:
    fig = trajectory_figure("P-001", DAYS, [10, 10, 10, 10, 0, 0, 10, 10, 10], [30.0] * len(DAYS), rt_days=[0])
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    fig.draw(renderer)
    legend_box = fig.axes[0].get_legend().get_window_extent(renderer)
    plot_box = fig.axes[0].get_window_extent(renderer)
    assert not legend_box.overlaps(plot_box)
    assert legend_box.y1 < plot_box.y0  # below it, clear of every point
    assert trajectory_png("P-001", DAYS, PAINS, [None] * len(DAYS), rt_days=[0]).startswith(b"\x89PNG")
