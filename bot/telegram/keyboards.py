"""Inline keyboards and their `callback_data`.

`callback_data` is at most 64 bytes, so buttons carry short ids, never labels: the instance id, the item's index in
its questionnaire, and the answer code. Every press is checked against the stored state before anything changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.domain.questionnaire import SKIPPED, UNKNOWN, Item
from bot.i18n import _

ANSWER = re.compile(r"^q:(\d{1,12}):(\d{1,3}):([a-z0-9_]{1,13})$")
TOGGLE = re.compile(r"^m:(\d{1,12}):(\d{1,3}):([a-z0-9_]{1,13})$")
BACK = re.compile(r"^b:(\d{1,12}):(\d{1,3})$")
ACK = re.compile(r"^ack:(\d{1,12})$")
# After "Pris en charge": what was done (act) and what it turned out to be (out), issue 15.
FOLLOWUP = re.compile(r"^(act|out):(\d{1,12}):([a-z_]{1,20})$")
# The same questionnaire entered by a research nurse in the clinicians' group (/saisie): other prefixes, so a
# press there can never be taken for a patient's own answer.
PHONE_ANSWER = re.compile(r"^pq:(\d{1,12}):(\d{1,3}):([a-z0-9_]{1,13})$")
PHONE_TOGGLE = re.compile(r"^pm:(\d{1,12}):(\d{1,3}):([a-z0-9_]{1,13})$")
CONSENT = "consent"
PREFERENCE = re.compile(r"^pref:(matin|midi|soir)$")
STOP = re.compile(r"^stop:(yes|no)$")
VALIDATE = "_ok"


@dataclass(frozen=True)
class ButtonPress:
    instance_id: int
    item_index: int
    code: str


def parse_press(pattern: re.Pattern[str], data: str | None) -> ButtonPress | None:
    match = pattern.match(data or "")
    if not match:
        return None
    groups = match.groups()
    return ButtonPress(int(groups[0]), int(groups[1]), groups[2] if len(groups) > 2 else "")


def _button(label: str, data: str) -> InlineKeyboardButton:
    assert len(data.encode("utf-8")) <= 64, data
    return InlineKeyboardButton(label, callback_data=data)


def question_keyboard(
    instance_id: int,
    item_index: int,
    item: Item,
    *,
    selection: tuple[str, ...] = (),
    can_go_back: bool = False,
    phone: bool = False,
) -> InlineKeyboardMarkup | None:
    """Buttons for one question: one tap per answer wherever the item allows it (`phone`: a nurse's entry)."""
    prefix = f"{'pq' if phone else 'q'}:{instance_id}:{item_index}:"
    rows: list[list[InlineKeyboardButton]] = []
    if item.type == "scale":
        rows.append([_button(str(n), f"{prefix}{n}") for n in range(0, 6)])
        rows.append([_button(str(n), f"{prefix}{n}") for n in range(6, 11)])
    elif item.type == "yesno":
        rows.append([_button(_("Yes"), f"{prefix}yes"), _button(_("No"), f"{prefix}no")])
    elif item.type == "single":
        # `Item` refuses a single or multi item without choices, so `or ()` never drops a button
        rows.extend([_button(choice.label, f"{prefix}{choice.code}")] for choice in item.choices or ())
    elif item.type == "multi":
        toggle = f"{'pm' if phone else 'm'}:{instance_id}:{item_index}:"
        for choice in item.choices or ():
            mark = "☑️ " if choice.code in selection else "⬜ "
            rows.append([_button(mark + choice.label, f"{toggle}{choice.code}")])
        rows.append([_button(_("Confirm"), f"{toggle}{VALIDATE}")])
    extra: list[InlineKeyboardButton] = []
    if item.allow_unknown:
        extra.append(_button(_("I don't know"), f"{prefix}{UNKNOWN}"))
    if item.optional:
        extra.append(_button(_("Skip"), f"{prefix}{SKIPPED}"))
    if extra:
        rows.append(extra)
    if can_go_back:
        rows.append([_button(_("Change my previous answer"), f"b:{instance_id}:{item_index}")])
    return InlineKeyboardMarkup(rows) if rows else None


def consent_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[_button(_("I have read and understood"), CONSENT)]])


def preference_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [_button(_("Morning (around 10:00)"), "pref:matin")],
            [_button(_("Midday (around 12:30)"), "pref:midi")],
            [_button(_("Evening (around 18:00)"), "pref:soir")],
        ]
    )


def stop_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[_button(_("Yes, stop"), "stop:yes"), _button(_("No, continue"), "stop:no")]])


def ack_keyboard(alert_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[_button(_("Taken care of"), f"ack:{alert_id}")]])


def action_label(code: str) -> str:
    """What the team did after an alert, as the clinicians read it (`bot.domain.followup.ACTIONS`)."""
    labels = {
        "called": _("Patient called"),
        "analgesics": _("Analgesics changed"),
        "clinic": _("Seen in clinic"),
        "imaging": _("Imaging requested"),
        "emergency": _("Sent to emergency"),
        "nothing": _("Nothing needed"),
    }
    return labels.get(code, code)


def outcome_label(code: str) -> str:
    """What an alert turned out to be (`bot.domain.followup.OUTCOMES`)."""
    labels = {
        "cord_compression": _("Cord compression confirmed"),
        "fracture": _("Fracture"),
        "infection": _("Infection"),
        "pain_flare": _("Pain flare"),
        "admission": _("Admission"),
        "none": _("None"),
    }
    return labels.get(code, code)


def followup_keyboard(alert_id: int, kind: str) -> InlineKeyboardMarkup:
    """Six buttons, two a row: the actions (`kind` "action") or the outcomes ("outcome") of one alert."""
    from bot.domain.followup import ACTIONS, OUTCOMES

    codes, prefix, label = (ACTIONS, "act", action_label) if kind == "action" else (OUTCOMES, "out", outcome_label)
    buttons = [_button(label(code), f"{prefix}:{alert_id}:{code}") for code in codes]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])
