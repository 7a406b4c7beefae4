"""The closed loop after an alert (issue 15): what the team did, and what the alert turned out to be.

Why codes and not free text: the telemonitoring yield (NCT06884332's secondary objective: does the bot find the
patients who need care?) is counted from them — actions per alert, and the positive predictive value of each rule
(alerts whose outcome is a confirmed problem, among alerts with an outcome recorded). The labels the clinicians see
are in `bot.telegram.keyboards` (gettext); these codes are what is stored and exported.
"""

from __future__ import annotations

from typing import Literal

ACTIONS: tuple[str, ...] = ("called", "analgesics", "clinic", "imaging", "emergency", "nothing")
OUTCOMES: tuple[str, ...] = ("cord_compression", "fracture", "infection", "pain_flare", "admission", "none")

#: The outcomes that mean "the alert found a patient who needed care" (a true positive); "none" is a false alarm.
CONFIRMED_OUTCOMES: frozenset[str] = frozenset(OUTCOMES) - {"none"}

#: Days after "Pris en charge" before the digest asks for the outcome (issue 15: "a reminder after 7 days"). A
#: workflow setting, not a clinical threshold.
OUTCOME_REMINDER_DAYS = 7

FollowupKind = Literal["action", "outcome"]


def is_code(kind: str, code: str) -> bool:
    """Is `code` one of the codes of `kind` (a forged or stale button is refused)?"""
    return code in (ACTIONS if kind == "action" else OUTCOMES if kind == "outcome" else ())
