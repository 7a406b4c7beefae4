"""The ladder of an urgent alert nobody has taken care of (issue 32; docs/clinical/alert-ladder.md). Pure.

An urgent alert used to fade: after three reminders it became an information line in the next digest. Now each
post Telegram accepts moves it one rung up, with the site's own timings (`bot.domain.sites.Escalation`):

    first post → reminder 1 … reminder N (every `reminder_minutes`)
               → step 1 "on_call": re-posted naming the site's on-call clinicians (`on_call_after_minutes` later)
               → step 2 "patient": the patient is told the team has not seen their message yet, and to call the
                 on-call number or 15 now; the group is told so (`patient_after_minutes` later)

and it stays urgent in every digest until someone takes it. "Pris en charge" stops the ladder wherever it is.
Other severities are posted once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from bot.domain.sites import Escalation

__all__ = ["STEPS", "Step", "rung", "wait_before_next"]

#: The rungs, in order (the `step` column of `alert_steps`, migration 0011).
Step = Literal["first", "reminder", "on_call", "patient"]
STEPS: tuple[Step, ...] = ("first", "reminder", "on_call", "patient")


def rung(severity: str, posts: int, escalation: Escalation) -> Step | None:
    """What the next post of an alert is, given how many of its posts Telegram accepted (None: nothing more)."""
    if posts == 0:
        return "first"
    if severity != "urgent":
        return None
    if posts <= escalation.reminders:
        return "reminder"
    if posts == escalation.reminders + 1:
        return "on_call"
    if posts == escalation.reminders + 2:
        return "patient"
    return None


def wait_before_next(severity: str, posts: int, escalation: Escalation) -> timedelta | None:
    """After `posts` accepted posts, how long until the next rung (None: the ladder is at its top)."""
    following = rung(severity, posts, escalation)
    minutes = {
        "reminder": escalation.reminder_minutes,
        "on_call": escalation.on_call_after_minutes,
        "patient": escalation.patient_after_minutes,
    }.get(following or "")
    return timedelta(minutes=minutes) if minutes else None
