"""Spreading a large fan-out over a window (issue #18), so a busy minute's answers do not all arrive at once.

When many patients' questionnaires fall due at the same minute (every "morning" patient at 10:00), sending them
all as fast as Telegram allows (30/s) brings most answers back within the same few minutes. Above
`SPREAD_ABOVE` patients due in one tick, each patient instead waits a fixed offset within the window
(`BOT_FANOUT_SPREAD_MINUTES`), derived from their id alone: stable across restarts and ticks (the dispatcher keeps
no memory), evenly spread, and the same patient is not always first.
"""

from __future__ import annotations

from datetime import datetime, timedelta

#: Up to this many patients due in one tick go out at once (about 3 s at Telegram's 30/s): no spreading.
SPREAD_ABOVE = 100
_GOLDEN = 2_654_435_761  # Knuth's multiplicative hash: consecutive ids land far apart in the window


def offset(patient_id: int, window: timedelta) -> timedelta:
    """Where in the window this patient's send falls, in [0, window)."""
    fraction = ((patient_id * _GOLDEN) % 2**32) / 2**32
    return window * fraction


def due_now(due: list[tuple[int, datetime]], now: datetime, window: timedelta) -> list[int]:
    """The patients (id, when their questionnaire opened) to dispatch at `now`: all of them for a small batch,
    else those whose offset within the window has passed."""
    if len(due) <= SPREAD_ABOVE or window <= timedelta(0):
        return [patient_id for patient_id, _ in due]
    return [patient_id for patient_id, opened in due if opened + offset(patient_id, window) <= now]
