"""The research nurse's phone entry of a patient's day-30 answers, in the clinicians' group (/saisie, issue 16).

Allowed clinicians only, in the clinicians' group only (the same guard as every clinician command); a press or a
typed answer from anyone else changes nothing. The service (`bot.services.phone_entry`) stores each answer with
source "phone".
"""

from __future__ import annotations

import logging

from telegram import CallbackQuery, Update
from telegram.error import BadRequest

from bot.domain import engine
from bot.domain.prompt import Prompt
from bot.i18n import _
from bot.services import phone_entry
from bot.services.answering import Submission
from bot.services.status_labels import timepoint_label
from bot.telegram.context import BotContext
from bot.telegram.handlers.clinician import ClinicianCall, clinician_command, refusal_text
from bot.telegram.keyboards import PHONE_ANSWER, PHONE_TOGGLE, VALIDATE, parse_press, question_keyboard
from bot.telegram.rendering import answered_text, question_text

log = logging.getLogger(__name__)


def _problem_text(problem: str, study_id: str) -> str:
    return {
        "unknown": _("Unknown study id: {study_id}."),
        "inactive": _("{study_id} has withdrawn: no entry is possible."),
        "no_window": _(
            "The day-30 questionnaire of {study_id} is not open now: a phone entry counts only inside its window."
        ),
        "completed": _("The day-30 questionnaire of {study_id} is already complete."),
    }[problem].format(study_id=study_id)


async def _send_prompt(context: BotContext, chat_id: int, prompt: Prompt, header: str | None = None) -> None:
    text = question_text(prompt)
    await context.bot.send_message(
        chat_id,
        f"{header}\n\n{text}" if header else text,
        protect_content=True,
        reply_markup=question_keyboard(
            prompt.instance.id, prompt.item_index, prompt.item, selection=prompt.selection, phone=True
        ),
    )


@clinician_command("saisie")
async def start_entry(call: ClinicianCall) -> None:
    """/saisie <study_id>: ask the patient's day-30 questions here, one message per question, with buttons."""
    if not call.args:
        await call.reply(_("Usage: /saisie <study_id>"))
        return
    problem, patient, prompt = await phone_entry.open_entry(
        call.services, clinician_id=call.user_id, study_id=call.args[0]
    )
    if problem is not None or patient is None or prompt is None:
        await call.reply(_problem_text(problem or "completed", call.args[0]))
        return
    header = _(
        "Phone entry for {study_id} ({timepoint}). Read each question to the patient and press their "
        "answer; type a number or a text as a message. Every answer is recorded as given by phone."
    ).format(study_id=patient.study_id, timepoint=timepoint_label(prompt.instance.timepoint))
    await _send_prompt(call.context, call.message.chat_id, prompt, header)


async def phone_button(update: Update, context: BotContext) -> None:
    """A press on a phone-entry question in the group (answer, toggle or "Confirm")."""
    query = update.callback_query
    assert query is not None
    chat_id = query.message.chat.id if query.message else None
    if not context.services.is_clinician(query.from_user.id, chat_id):
        log.info("phone entry press refused (update %s)", update.update_id)
        await query.answer(refusal_text(), show_alert=True)
        return
    toggle = parse_press(PHONE_TOGGLE, query.data)
    press = toggle or parse_press(PHONE_ANSWER, query.data)
    if press is None:
        await query.answer(_("This question is no longer active. Nothing was changed."))
        return
    services = context.services
    if toggle is not None and toggle.code != VALIDATE:
        problem, prompt = await phone_entry.toggle(
            services, instance_id=toggle.instance_id, item_index=toggle.item_index, code=toggle.code
        )
        if problem is not None or prompt is None:
            await query.answer(_("This question is no longer active. Nothing was changed."))
            return
        await query.answer()
        try:
            await query.edit_message_reply_markup(
                reply_markup=question_keyboard(
                    prompt.instance.id, prompt.item_index, prompt.item, selection=prompt.selection, phone=True
                )
            )
        except BadRequest as exc:
            log.info("could not refresh a phone-entry question: %s", type(exc).__name__)
        return
    if toggle is not None:
        current = await phone_entry.current_prompt(services, toggle.instance_id)
        selection = set(current.selection) if current else set()
        make_value = lambda item: engine.answer_from_selection(item, selection)  # noqa: E731
    else:
        make_value = lambda item: engine.answer_from_button(item, press.code)  # noqa: E731
    submission = await phone_entry.submit(
        services,
        clinician_id=query.from_user.id,
        instance_id=press.instance_id,
        item_index=press.item_index,
        make_value=make_value,
    )
    await _after(update, context, submission, query=query)


async def phone_typed(update: Update, context: BotContext) -> None:
    """A message in the group: the typed answer of this clinician's phone entry, if one waits for it."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None or not message.text:
        return
    if not context.services.is_clinician(user.id, message.chat_id):
        return  # group conversation, or someone else: not an answer
    instance_id = await phone_entry.session_instance(context.services, user.id)
    if instance_id is None:
        return
    prompt = await phone_entry.current_prompt(context.services, instance_id)
    if prompt is None or prompt.item.type not in ("number", "text"):
        return  # the current question takes a button: an ordinary message in the group
    submission = await phone_entry.submit(
        context.services,
        clinician_id=user.id,
        instance_id=instance_id,
        item_index=prompt.item_index,
        make_value=phone_entry.typed_value(message.text),
    )
    await _after(update, context, submission, query=None)


async def _after(update: Update, context: BotContext, submission: Submission, *, query: CallbackQuery | None) -> None:
    message = update.effective_message
    chat_id = update.effective_chat.id if update.effective_chat else None
    if submission.status != "stored":
        text = (
            submission.message
            if submission.status == "invalid"
            else (_("This question is no longer active. Nothing was changed."))
        )
        if query is not None:
            await query.answer(text or "")
        elif message is not None:
            await message.reply_text(text or "")
        return
    if query is not None:
        await query.answer()
        answered, value = submission.answered, submission.value
        if answered is not None and value is not None:  # a stored answer carries both; otherwise leave the question
            try:
                await query.edit_message_text(
                    answered_text(question_text(answered), answered.item, value), reply_markup=None
                )
            except BadRequest as exc:
                log.info("could not edit a phone-entry question: %s", type(exc).__name__)
    if submission.alerts:
        from bot.delivery import worker

        context.application.create_task(worker.deliver_due(context.services, context.messenger), update=update)
    if chat_id is None:
        return
    if submission.prompt is not None:
        await _send_prompt(context, chat_id, submission.prompt)
    elif submission.finished and submission.patient is not None:
        await context.bot.send_message(
            chat_id,
            _('Phone entry complete for {study_id}: {count} answer(s) recorded, source "phone".').format(
                study_id=submission.patient.study_id, count=len(submission.summary)
            ),
            protect_content=True,
        )
