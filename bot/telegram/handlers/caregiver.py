"""Caregiver-side handlers (issue 36), the patient's /fin_aidant and the team's /aidant and /fin_aidant.

`route` runs before the patients' handlers: an update from a caregiver's account (or a caregiver's invitation link)
is handled here and stops there; anything else goes on to the patients' handlers unchanged.
"""

from __future__ import annotations

import logging
import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ApplicationHandlerStop

from bot.delivery import patient_notices, worker
from bot.delivery.advice_text import message_received_text
from bot.delivery.caregiver_text import caregiver_help_text
from bot.domain import engine
from bot.i18n import _
from bot.services import caregivers, patient_messages
from bot.services.answering import Submission
from bot.services.caregivers import caregiver_information_text, caregiver_instruction
from bot.storage.caregivers import Caregiver
from bot.telegram.context import BotContext
from bot.telegram.handlers.clinician import ClinicianCall, clinician_command
from bot.telegram.keyboards import ANSWER, BACK, TOGGLE, VALIDATE, parse_press
from bot.telegram.rendering import answered_text, question_text

log = logging.getLogger(__name__)

CAREGIVER_CONSENT = "cg:consent"
_START = re.compile(r"^/start(?:@\w+)?\s+(" + re.escape(caregivers.CODE_PREFIX) + r"[A-Za-z0-9_-]{1,60})\s*$")


def ended_text() -> str:
    return _(
        "You are no longer a caregiver in this follow-up: nothing was recorded. In an emergency, call 15 (SAMU) or 112."
    )


def consent_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(_("I agree"), callback_data=CAREGIVER_CONSENT)]])


async def route(update: Update, context: BotContext) -> None:
    """Before the patients' handlers: a caregiver's update is handled here (then stops); others pass through."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or chat.type != "private" or user is None:
        return
    message, query = update.message, update.callback_query
    if message is not None and message.text and (match := _START.match(message.text)):
        await _join(update, context, match.group(1))
        raise ApplicationHandlerStop
    if message is None and query is None:
        if update.edited_message is not None and await caregivers.find_live(context.services, user.id) is not None:
            raise ApplicationHandlerStop  # an edit never answers (as for patients); the words were handled already
        return
    caregiver = await caregivers.find_live(context.services, user.id)
    if caregiver is None:
        return
    if caregiver.status == "ended":
        if query is not None:
            await query.answer(ended_text())
        elif message is not None:
            await message.reply_text(ended_text())
    elif caregiver.status == "joined":
        if query is not None and query.data == CAREGIVER_CONSENT:
            await _consent(update, context)
        elif query is not None:
            await query.answer()
        elif message is not None:
            await message.reply_text(caregiver_information_text(), reply_markup=consent_keyboard())
    elif query is not None:
        await _press(update, context, caregiver)
    elif message is not None:
        await _message(update, context, caregiver)
    raise ApplicationHandlerStop


async def _join(update: Update, context: BotContext, code: str) -> None:
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    kind, _caregiver = await caregivers.redeem(
        context.services, code=code, telegram_user_id=user.id, chat_id=message.chat_id, telegram_date=message.date
    )
    if kind == "joined":
        log.info("caregiver joined (update %s)", update.update_id)
        await message.reply_text(caregiver_information_text(), reply_markup=consent_keyboard())
    elif kind == "is_patient":
        await message.reply_text(
            _("This link is for a caregiver, on their own Telegram account. You take part as a patient already.")
        )
    elif kind == "busy":
        await message.reply_text(_("You are already a caregiver in this follow-up. Send /aide to see what you can do."))
    else:
        await message.reply_text(
            _("This caregiver link cannot be used (already used or expired). Please ask the care team for a new one.")
        )


async def _consent(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    done = await caregivers.consent(context.services, query.from_user.id)
    await query.answer()
    if done is None:
        return
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest as exc:
        log.info("could not drop the consent keyboard: %s", type(exc).__name__)
    await context.bot.send_message(
        query.from_user.id,
        _(
            "Thank you, you are now a caregiver in this follow-up. Send /repondre when your relative cannot answer "
            "their questionnaire; send /aide for help."
        ),
    )
    if done.patient_chat_id is not None:
        try:
            await context.bot.send_message(
                done.patient_chat_id,
                _(
                    "A caregiver (caregiver {number}) has joined your follow-up: they may answer your questionnaires "
                    "for you when you cannot. Their answers are labelled as theirs. To end their role, send "
                    "/fin_aidant."
                ).format(number=done.caregiver.number),
            )
        except TelegramError as exc:  # the consent is recorded; the patient sees it in /aide later
            log.info("could not tell the patient a caregiver joined: %s", type(exc).__name__)


async def _press(update: Update, context: BotContext, caregiver: Caregiver) -> None:
    query = update.callback_query
    assert query is not None
    services = context.services
    answer, toggle, back = (
        parse_press(ANSWER, query.data),
        parse_press(TOGGLE, query.data),
        parse_press(BACK, query.data),
    )
    if answer is not None:
        submission = await caregivers.submit(
            services,
            telegram_user_id=query.from_user.id,
            instance_id=answer.instance_id,
            item_index=answer.item_index,
            value_for=lambda prompt: engine.answer_from_button(prompt.item, answer.code),
            answered_at=None,
        )
        await _after(update, context, submission)
    elif toggle is not None and toggle.code == VALIDATE:
        submission = await caregivers.submit(
            services,
            telegram_user_id=query.from_user.id,
            instance_id=toggle.instance_id,
            item_index=toggle.item_index,
            value_for=lambda prompt: engine.answer_from_selection(prompt.item, set(prompt.selection)),
            answered_at=None,
        )
        await _after(update, context, submission)
    elif toggle is not None:
        prompt = await caregivers.toggle(
            services,
            telegram_user_id=query.from_user.id,
            instance_id=toggle.instance_id,
            item_index=toggle.item_index,
            code=toggle.code,
        )
        await query.answer(None if prompt is not None else _stale())
        if prompt is not None:
            from bot.telegram.handlers.patient import _edit_prompt

            await _edit_prompt(query, prompt)
    elif back is not None:
        prompt = await caregivers.go_back(
            services, telegram_user_id=query.from_user.id, instance_id=back.instance_id, item_index=back.item_index
        )
        await query.answer(None if prompt is not None else _stale())
        if prompt is not None:
            await context.messenger.send_question(query.from_user.id, prompt)
    else:
        await query.answer(_stale())


def _stale() -> str:
    return _("This question is no longer active. Nothing was changed.")


def _held_text() -> str:
    return _("Your relative has already started this questionnaire: they are answering it. Nothing was changed.")


async def _after(update: Update, context: BotContext, submission: Submission) -> None:
    """After a caregiver's answer: the advice owed first, the answer shown, then the next question."""
    query, message = update.callback_query, update.effective_message
    chat_id = update.effective_chat.id if update.effective_chat else None
    if submission.status != "stored":
        text = (
            _held_text()
            if submission.status == "held"
            else (submission.message or _stale())
            if submission.status == "invalid"
            else _stale()
        )
        if query is not None:
            await query.answer(text)
        elif message is not None:
            await message.reply_text(text)
        return
    if query is not None:
        await query.answer()
    if submission.notice_id is not None:
        await patient_notices.send_notices(context.services, context.messenger, notice_id=submission.notice_id)
    if submission.alerts:
        context.application.create_task(worker.deliver_due(context.services, context.messenger), update=update)
    answered, value = submission.answered, submission.value
    if query is not None and query.message is not None and answered is not None and value is not None:
        try:
            await query.edit_message_text(answered_text(question_text(answered), answered.item, value))
        except BadRequest as exc:  # cosmetic: the answer is stored
            log.info("could not show the caregiver's answer: %s", type(exc).__name__)
    if chat_id is None:
        return
    if submission.prompt is not None:
        await context.messenger.send_question(chat_id, submission.prompt)
    elif submission.finished:
        await context.bot.send_message(
            chat_id,
            _(
                "Thank you, the questionnaire is complete. Your answers are recorded as given by a caregiver, and the "
                "care team can see them. In an emergency, call 15 (SAMU) or 112."
            ),
        )


async def _message(update: Update, context: BotContext, caregiver: Caregiver) -> None:
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    services = context.services
    text = message.text or ""
    command = text.split()[0].split("@")[0].lower() if text.startswith("/") else None
    if command == "/repondre":
        problem, prompt = await caregivers.open_prompt(services, caregiver)
        if prompt is not None:
            await context.messenger.send_question(message.chat_id, prompt, header=caregiver_instruction())
        elif problem == "held_by_patient":
            await message.reply_text(_held_text())
        elif problem == "held_by_other":
            await message.reply_text(_("Another caregiver is already answering this questionnaire."))
        elif problem == "inactive":
            await message.reply_text(_("Your relative's follow-up is paused or over: there is nothing to answer."))
        else:
            await message.reply_text(_("Your relative has no questionnaire to answer right now."))
        return
    if command == "/stop":
        patient, ended = await caregivers.end(services, by="caregiver", actor="", caregiver_user_id=user.id)
        if ended:
            await message.reply_text(
                _("You are no longer a caregiver in this follow-up and will receive no more messages. Thank you.")
            )
            await _tell_patient(context, patient, ended, by_team=False, by_self=True)
        return
    if command is not None:  # /aide, /start again, anything else: what a caregiver can do
        site = None
        _cg, patient = await caregivers.current(services, user.id)
        if patient is not None:
            site = services.sites.get(patient.site_code)
        await message.reply_text(caregiver_help_text(site))
        return
    if message.text is not None and message.forward_origin is None:
        holder_prompt = await caregivers.open_prompt(services, caregiver)
        prompt = holder_prompt[1]
        if (
            prompt is not None
            and prompt.instance.held_by == caregiver.holder
            and prompt.item.type in ("number", "text")
        ):
            submission = await caregivers.submit(
                services,
                telegram_user_id=user.id,
                instance_id=prompt.instance.id,
                item_index=prompt.item_index,
                value_for=lambda p: engine.answer_from_text(p.item, text),
                answered_at=message.date,
            )
            if submission.status == "stored" or (
                submission.status == "invalid" and not patient_messages.looks_like_a_message(text, services)
            ):
                await _after(update, context, submission)
                return
    # The caregiver's own words: screened like the patient's, passed on to the team, labelled as the caregiver's.
    from bot.telegram.handlers.patient import _message_kind

    kind = "text" if message.text is not None else _message_kind(message)
    received = await patient_messages.receive(
        services,
        telegram_user_id=user.id,
        chat_id=message.chat_id,
        message_id=message.message_id,
        kind=kind,
        text=message.text if message.text is not None else message.caption,
        telegram_date=message.date,
        caregiver=caregiver,
    )
    context.application.create_task(worker.deliver_due(services, context.messenger), update=update)
    if received.patient is None:
        return
    if received.notice_id is not None:
        await patient_notices.send_notices(services, context.messenger, notice_id=received.notice_id)
        return
    local_now = services.clock.now().astimezone(services.settings.timezone)
    await message.reply_text(message_received_text(services.sites.get(received.patient.site_code), local_now))


async def _tell_patient(
    context: BotContext, patient: object, ended: list[Caregiver], *, by_team: bool, by_self: bool = False
) -> None:
    """The patient hears that a caregiver's role ended (unless they ended it themselves or no longer take part)."""
    from bot.domain.models import Patient
    from bot.storage import patients as patient_repo

    if not isinstance(patient, Patient) or patient.status not in ("joined", "active", "paused"):
        return
    async with context.services.store.read() as tx:
        link = await patient_repo.get_link(tx, patient.id)
    if link is None:
        return
    for caregiver in ended:
        text = (
            _("Caregiver {number} has stopped helping you answer in this follow-up.")
            if by_self
            else _("The care team has ended the role of caregiver {number} in your follow-up.")
        ).format(number=caregiver.number)
        try:
            await context.bot.send_message(link.chat_id, text)
        except TelegramError as exc:
            log.info("could not tell the patient: %s", type(exc).__name__)


async def _tell_caregivers(context: BotContext, ended: list[Caregiver], text: str) -> None:
    """The one last message an ended caregiver gets: their role is over (nothing after it)."""
    for caregiver in ended:
        if caregiver.chat_id is None or caregiver.status == "invited":
            continue
        try:
            await context.bot.send_message(caregiver.chat_id, text)
        except TelegramError as exc:
            log.info("could not tell a caregiver their role ended: %s", type(exc).__name__)


async def patient_ends(update: Update, context: BotContext) -> None:
    """/fin_aidant from the patient: every caregiver's role ends at once (audited); the caregivers are told."""
    from bot.telegram.handlers.patient import _participant

    patient = await _participant(update, context)
    if patient is None:
        return
    message = update.effective_message
    assert message is not None
    _p, ended = await caregivers.end(
        context.services, by="patient", actor=f"patient:{patient.study_id}", patient=patient
    )
    if not ended:
        await message.reply_text(_("You have no caregiver in this follow-up."))
        return
    await message.reply_text(
        _(
            "Done: your caregiver can no longer answer for you and will receive no more messages. Your care team has been told."
        )
    )
    await _tell_caregivers(
        context,
        ended,
        _("Your relative has ended your role as a caregiver in this follow-up. You will receive no more messages."),
    )


@clinician_command("aidant")
async def invite(call: ClinicianCall) -> None:
    """/aidant <study_id>: a one-time link for a caregiver of this patient (at most two at a time)."""
    if not call.args:
        await call.reply(_("Usage: /aidant <study_id>"))
        return
    try:
        invitation = await caregivers.invite(call.services.store, call.services.clock, call.args[0], actor=call.actor)
    except caregivers.CaregiverError as exc:
        await call.reply(str(exc))
        return
    link = f"https://t.me/{call.context.bot.username}?start={invitation.code}"
    expires = invitation.expires_at.astimezone(call.services.settings.timezone).strftime("%d/%m/%Y")
    await call.reply(
        _(
            "Caregiver {number} of {study_id}: give this personal link to the caregiver, for their own Telegram "
            "account, valid once until {expires}:\n{link}"
        ).format(number=invitation.number, study_id=invitation.study_id, expires=expires, link=link),
        protect_content=True,
    )


@clinician_command("fin_aidant")
async def team_ends(call: ClinicianCall) -> None:
    """/fin_aidant <study_id> [number]: the team ends a caregiver's role (all of the patient's without a number)."""
    if not call.args:
        await call.reply(_("Usage: /fin_aidant <study_id> [number]"))
        return
    number = int(call.args[1]) if len(call.args) > 1 and call.args[1].isdigit() else None
    patient, ended = await caregivers.end(
        call.services, by="team", actor=call.actor, study_id=call.args[0], number=number
    )
    if patient is None:
        await call.reply(_("Unknown study id: {study_id}.").format(study_id=call.args[0]))
        return
    if not ended:
        await call.reply(_("{study_id} has no such caregiver.").format(study_id=patient.study_id))
        return
    await call.reply(
        _("Caregiver role ended for {study_id}: {numbers}.").format(
            study_id=patient.study_id, numbers=", ".join(str(c.number) for c in ended)
        )
    )
    await _tell_caregivers(
        call.context,
        ended,
        _("The care team has ended your role as a caregiver in this follow-up. You will receive no more messages."),
    )
    await _tell_patient(call.context, patient, ended, by_team=True)
