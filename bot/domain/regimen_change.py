"""Did the patient's pain treatment change in the last days? The context item `regimen_changed_recently` of the
daily diary and the weekly check (issue 32): opioid toxicity (`opioid_signs`) is asked without the "other
problem" gate in the days after a change, not only in the questionnaire that reports it.

Why a window: opioid toxicity typically appears in the days after a dose increase or a switch of opioid (Caraceni
A. et al., EAPC opioid recommendations, Lancet Oncol 2012;13(2):e58-e68). The 7 days are the issue's (issue 32):
a patient whose treatment changed 3 days ago and who answers "same as last time" today is still asked.

A change is: an earlier questionnaire where the patient said the treatment changed (`analgesic_same` = "no") or
answered the team's regimen (`team_regimen_ok`), or a regimen the team recorded (/traitement). The baseline is
not a change: it records the treatment, not when it started.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Final

from bot.domain.omed import TEAM_CONFIRM_ITEM

__all__ = ["RECENT_CHANGE_ITEM", "RECENT_CHANGE_DAYS", "reports_change", "changed_recently"]

RECENT_CHANGE_ITEM: Final[str] = "regimen_changed_recently"
"""Context item of the questionnaires (never asked): "yes" when the treatment changed within the window."""
RECENT_CHANGE_DAYS: Final[int] = 7
"""The window, in days before the questionnaire was sent (issue 32; EAPC 2012, see the module's docstring)."""


def reports_change(answers: Mapping[str, object]) -> bool:
    """Do these answers report a change of treatment ("not the same as last time", or the team's regimen
    answered either way: confirmed, it is new; refused, the patient describes another)?"""
    return answers.get("analgesic_same") == "no" or TEAM_CONFIRM_ITEM in answers


def changed_recently(
    reference: datetime,
    earlier: Iterable[tuple[datetime, Mapping[str, object]]],
    team_recorded: Iterable[datetime],
    *,
    days: int = RECENT_CHANGE_DAYS,
) -> bool:
    """Within `days` before `reference` (when the questionnaire was sent), did an earlier questionnaire (sent at the
    time given with its answers) report a change, or did the team record a regimen? Strictly before `reference`:
    what happens later belongs to the next questionnaire."""
    start = reference - timedelta(days=days)
    if any(start <= at < reference for at in team_recorded):
        return True
    return any(start <= at < reference and reports_change(answers) for at, answers in earlier)
