"""The closed loop after "Pris en charge" (issue 15): the clinician says what was done, then what it was.

Buttons under the alert message: first the actions (patient called, analgesics changed, …), then the outcomes
(cord compression confirmed, fracture, …, none). Every press is stored with who and when (append-only; pressing
another outcome later corrects it) and goes into the audit trail. Only an allowed clinician in the clinicians' group
may press them, and only on an alert already taken care of.
"""

from __future__ import annotations

import logging

from telegram import Message, Update

from bot.domain.followup import FollowupKind, is_code
from bot.i18n import _
from bot.services import clinician_commands
from bot.telegram.context import BotContext
from bot.telegram.handlers.clinician import refusal_text
from bot.telegram.keyboards import FOLLOWUP, action_label, followup_keyboard, outcome_label

log = logging.getLogger(__name__)


def _prompts() -> tuple[str, ...]:
    return (_("What was done?"), _("What did it turn out to be? (you can answer later)"))


async def followup(update: Update, context: BotContext) -> None:
    """Record an action or an outcome of an acknowledged alert, and show the next question under the alert."""
    query = update.callback_query
    assert query is not None
    match = FOLLOWUP.match(query.data or "")
    chat_id = query.message.chat.id if query.message else None
    if match is None or not context.services.is_clinician(query.from_user.id, chat_id):
        await query.answer(refusal_text(), show_alert=True)
        return
    kind: FollowupKind = "action" if match.group(1) == "act" else "outcome"
    alert_id, code = int(match.group(2)), match.group(3)
    if not is_code(kind, code):
        await query.answer(_("This button is no longer valid."))
        return
    services = context.services
    now = await clinician_commands.record_followup(services, alert_id, kind=kind, code=code, by=query.from_user.id)
    if now is None:
        await query.answer(_("This alert must first be taken care of."))
        return
    label = action_label(code) if kind == "action" else outcome_label(code)
    await query.answer(_("Recorded: {label}").format(label=label))
    when = now.astimezone(services.settings.timezone).strftime("%d/%m/%Y %H:%M")
    shown = query.message.text if isinstance(query.message, Message) and query.message.text else ""
    lines = shown.split("\n")
    if lines and lines[-1] in _prompts():
        lines.pop()
    template = _("Done: {label} ({name}, {when})") if kind == "action" else _("Outcome: {label} ({name}, {when})")
    lines.append(template.format(label=label, name=query.from_user.first_name, when=when))
    if kind == "action":
        lines.append(_prompts()[1])
    try:  # recorded either way; a failed edit is cosmetic
        await query.edit_message_text("\n".join(lines), reply_markup=followup_keyboard(alert_id, "outcome"))
    except Exception as exc:
        log.info("could not edit the alert after a follow-up: %s", type(exc).__name__)
