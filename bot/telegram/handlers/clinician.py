"""Clinician commands, accepted only from an allowed user inside the clinicians' group."""

from __future__ import annotations

import logging

from telegram import Update

from bot.domain.enrolment import EnrolmentError, parse_enrolment
from bot.i18n import _
from bot.services import enrolment
from bot.storage import audit
from bot.telegram.context import BotContext

log = logging.getLogger(__name__)


def refusal_text() -> str:
    return _("This command is reserved for the care team, in the care team's group.")


async def allowed(update: Update, context: BotContext) -> bool:
    """True for an allowed clinician in the clinicians' group; otherwise reply with a short refusal."""
    user = update.effective_user
    chat = update.effective_chat
    if context.services.is_clinician(user.id if user else None, chat.id if chat else None):
        return True
    if update.effective_message is not None:
        await update.effective_message.reply_text(refusal_text())
    log.info("clinician command refused (update %s)", update.update_id)
    return False


async def record_command(update: Update, context: BotContext, command: str, args: list[str]) -> None:
    """Every clinician command goes into the audit trail (who, what, when)."""
    services = context.services
    user = update.effective_user
    message = update.effective_message
    async with services.store.transaction() as tx:
        await audit.record(
            tx, at=services.clock.now(), actor=f"clinician:{user.id if user else 0}", action=f"command:{command}",
            details={"args": args}, telegram_date=message.date if message else None,
        )
        await tx.commit()


async def enroll(update: Update, context: BotContext) -> None:
    """/enroll <study_id> <YYYY-MM-DD> [arm=…] [site=…] [fractions=1|5]: create a one-time invitation link."""
    if not await allowed(update, context):
        return
    message = update.effective_message
    user = update.effective_user
    assert message is not None and user is not None
    args = list(context.args or [])
    await record_command(update, context, "enroll", args)
    try:
        request = parse_enrolment(args)
        invitation = await enrolment.enroll(
            context.services.store, context.services.clock, request, actor=f"clinician:{user.id}"
        )
    except EnrolmentError as exc:
        await message.reply_text(str(exc))
        return
    link = f"https://t.me/{context.bot.username}?start={invitation.code}"
    expires = invitation.expires_at.astimezone(context.services.settings.timezone).strftime("%d/%m/%Y")
    await message.reply_text(
        _("Patient {study_id} enrolled (site {site}, arm {arm}, {fractions} fraction(s), day 0 = {day0}).\n"
          "Give the patient this personal link, valid once until {expires}:\n{link}").format(
            study_id=request.study_id, site=request.site, arm=request.arm, fractions=request.fractions,
            day0=request.rt_start.strftime("%d/%m/%Y"), expires=expires, link=link,
        ),
        protect_content=True,
    )


async def acknowledge(update: Update, context: BotContext) -> None:
    """"Pris en charge": record who and when, and edit the alert message (allowed clinicians only)."""
    from bot.delivery.alert_text import acknowledged_suffix
    from bot.storage import alerts
    from bot.telegram.keyboards import ACK

    query = update.callback_query
    assert query is not None
    match = ACK.match(query.data or "")
    chat_id = query.message.chat.id if query.message else None
    if match is None or not context.services.is_clinician(query.from_user.id, chat_id):
        await query.answer(refusal_text(), show_alert=True)
        return
    alert_id = int(match.group(1))
    services = context.services
    now = services.clock.now()
    async with services.store.transaction() as tx:
        done = await alerts.acknowledge(tx, alert_id, by=query.from_user.id, now=now)
        if done:
            alert = await alerts.get_alert(tx, alert_id)
            await audit.record(
                tx, at=now, actor=f"clinician:{query.from_user.id}", action="acknowledge",
                patient_id=alert.patient_id if alert else None, entity="alert", entity_id=alert_id,
            )
        await tx.commit()
    if not done:
        await query.answer(_("This alert was already taken care of."))
        return
    await query.answer(_("Recorded: taken care of."))
    when = now.astimezone(services.settings.timezone).strftime("%d/%m/%Y %H:%M")
    text = (query.message.text if query.message and query.message.text else "") + acknowledged_suffix(
        query.from_user.first_name, when
    )
    try:
        await query.edit_message_text(text, reply_markup=None)
    except Exception as exc:  # the acknowledgement is recorded; a failed edit is cosmetic
        log.info("could not edit the acknowledged alert: %s", type(exc).__name__)
