"""Patient-side handlers: joining, the information message, answering, and anything else a patient sends.

Handlers stay thin: parse the update, call a service, render the result. Log lines carry update ids and kinds,
never what the patient wrote.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import CallbackQuery, Update
from telegram.error import BadRequest, TelegramError

from bot.delivery import patient_notices, worker
from bot.delivery.advice_text import (
    emergency_footer,
    hint_with_safety,
    media_received_text,
    message_received_text,
)
from bot.domain import engine
from bot.domain.models import NEVER_WRITTEN_TO, Patient
from bot.domain.sites import Site
from bot.i18n import _
from bot.scheduling import dispatcher
from bot.services import answering, enrolment, medicine_photos, onboarding, patient_messages
from bot.services.answering import Submission
from bot.services.prompting import send_prompt
from bot.telegram.context import BotContext
from bot.telegram.handlers import medicine
from bot.telegram.keyboards import ANSWER, BACK, TOGGLE, VALIDATE, consent_keyboard, parse_press, preference_keyboard
from bot.telegram.rendering import answered_text, question_text, summary_text
from bot.telegram.tidy_edits import tidy_edits

log = logging.getLogger(__name__)


def refusal_text() -> str:
    return _(
        "Hello. This service is reserved for patients followed by a care team. To join, please ask your care "
        "team for your personal link."
    )


def welcome_text() -> str:
    return _(
        "Welcome. Your care team is following your radiotherapy with short questionnaires on your pain, your "
        "medicines and how you feel. You answer with a single tap.\n\n"
        "Important: this service is not watched around the clock and it is not an emergency service. In an "
        "emergency, call 15 (SAMU) or 112; deaf or hard of hearing: SMS to 114.\n\n"
        "Your answers are stored securely under a study number; your name is never sent to the team's chat."
    )


def paused_text() -> str:
    return _("Your questionnaires are paused. Send /reprendre when you want to continue.")


def stale_text() -> str:
    return _("This question is no longer active. Nothing was changed.")


def inactive_text() -> str:
    return _("You are no longer taking part in the follow-up. Nothing was recorded.")


def nothing_due_text() -> str:
    return _(
        "You have no questionnaire to answer right now. The next one will come at your usual time. In an "
        "emergency, call 15 or 112."
    )


async def start(update: Update, context: BotContext) -> None:
    """/start <code>: redeem an invitation, or refuse politely."""
    message = update.effective_message
    user = update.effective_user
    chat = update.effective_chat
    if message is None or user is None or chat is None:
        return
    code = context.args[0] if context.args else None
    result = await enrolment.redeem(
        context.services.store,
        context.services.clock,
        code=code,
        telegram_user_id=user.id,
        chat_id=chat.id,
        telegram_date=message.date,
    )
    if result.kind == "joined":
        log.info("patient joined (update %s)", update.update_id)
        await message.reply_text(welcome_text(), reply_markup=consent_keyboard())
    elif result.kind == "already_joined" and result.patient is not None:
        if result.patient.status == "joined":
            await message.reply_text(welcome_text(), reply_markup=consent_keyboard())
        else:
            await show_current(update, context)
    else:
        await message.reply_text(refusal_text())


async def information_understood(update: Update, context: BotContext) -> None:
    """The patient confirmed the information message: ask when to send questionnaires."""
    query = update.callback_query
    assert query is not None
    message_id = query.message.message_id if query.message else None
    step, _patient = await onboarding.confirm_information(context.services, query.from_user.id, message_id)
    await query.answer()
    if step == "ask_preference":
        await _drop_keyboard(query)
        await context.bot.send_message(
            query.message.chat.id if query.message else query.from_user.id,
            _("When do you prefer to receive the questionnaires?"),
            reply_markup=preference_keyboard(),
        )


async def preferred_time(update: Update, context: BotContext) -> None:
    """The patient chose a time: activate, plan the schedule and start what is due (the baseline)."""
    query = update.callback_query
    assert query is not None and context.matches
    choice = context.matches[0].group(1)
    step, patient = await onboarding.choose_time_and_activate(context.services, query.from_user.id, choice)
    await query.answer()
    if step == "activated" and patient is not None:
        await _drop_keyboard(query)
        # The patient is here now: what is due goes at once, at any hour; announce only what really follows, in
        # the same message as the first question (one message, not two: issue #18).
        due = await dispatcher.next_due(context.services, patient.id, present=True)
        if due is not None and await dispatcher.dispatch_patient(
            context.services,
            context.messenger,
            patient.id,
            present=True,
            preface=_(
                "Thank you. Here is your first questionnaire. You can stop at any time and continue later: "
                "send /reprendre to see the current question again."
            ),
        ):
            return
        await context.bot.send_message(
            query.from_user.id,
            _(
                "Thank you. You have no questionnaire to answer right now: the next one will come at the time you "
                "chose. Send /reprendre at any time to see the current question."
            ),
        )


async def answer_button(update: Update, context: BotContext) -> None:
    """A tap on an answer button."""
    query = update.callback_query
    assert query is not None
    press = parse_press(ANSWER, query.data)
    if press is None:
        await query.answer(stale_text())
        return
    submission = await answering.submit(
        context.services,
        telegram_user_id=query.from_user.id,
        instance_id=press.instance_id,
        item_index=press.item_index,
        make_value=lambda item: engine.answer_from_button(item, press.code),
        answered_at=None,
    )
    await _after_submission(update, context, submission, query=query)


async def toggle_choice(update: Update, context: BotContext) -> None:
    """A tap on a multiple-choice option (toggle) or on "Valider"."""
    query = update.callback_query
    assert query is not None
    press = parse_press(TOGGLE, query.data)
    if press is None:
        await query.answer(stale_text())
        return
    if press.code == VALIDATE:
        # The ticks are read in the submitting transaction (see `submit_selection`): no tick can fall in between.
        submission = await answering.submit_selection(
            context.services,
            telegram_user_id=query.from_user.id,
            instance_id=press.instance_id,
            item_index=press.item_index,
        )
        await _after_submission(update, context, submission, query=query)
        return
    problem, prompt = await answering.toggle_selection(
        context.services,
        telegram_user_id=query.from_user.id,
        instance_id=press.instance_id,
        item_index=press.item_index,
        code=press.code,
    )
    if problem is not None or prompt is None:
        await query.answer(_status_text(problem))
        return
    await query.answer()
    await _edit_prompt(query, prompt)


async def go_back(update: Update, context: BotContext) -> None:
    """ "Change my previous answer": re-ask the previous item; the new answer supersedes (never overwrites) it."""
    query = update.callback_query
    assert query is not None
    press = parse_press(BACK, query.data)
    if press is None:
        await query.answer(stale_text())
        return
    problem, prompt = await answering.go_back(
        context.services,
        telegram_user_id=query.from_user.id,
        instance_id=press.instance_id,
        item_index=press.item_index,
    )
    if problem is not None or prompt is None:
        await query.answer(_status_text(problem))
        return
    await query.answer()
    await _drop_keyboard(query)
    await send_prompt(context.messenger, context.services, query.from_user.id, prompt)


async def typed_answer(update: Update, context: BotContext) -> None:
    """A text from a patient: the answer to a typed item — or, when it is not one, a message kept for the team."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    text = message.text or ""
    if message.forward_origin is not None:
        await message.reply_text(_("Forwarded messages are not taken as answers."))
        await keep_message(update, context, kind="text", text=text, forwarded=True)
        return
    submission = await answering.submit(
        context.services,
        telegram_user_id=user.id,
        instance_id=None,
        item_index=None,
        make_value=lambda item: engine.answer_from_text(item, text),
        answered_at=message.date,
    )
    if submission.status == "stored":
        await _after_submission(update, context, submission, query=None)
    elif submission.status == "not_patient":
        await message.reply_text(refusal_text())
    elif submission.status == "invalid" and not patient_messages.looks_like_a_message(text, context.services):
        # Not an answer, and not a sentence: a number out of range is an answer attempt (kept, not forwarded); a
        # stray word ("SOS" the screen missed, "ok") is kept and posted to the team with the next grouped post. Both
        # get the hint to answer the question, with the safety line (issue 39). A flagged word is a message.
        mode: patient_messages.Mode = "answer_attempt" if patient_messages.is_a_number(text) else "stray"
        await keep_message(update, context, kind="text", text=text, mode=mode, hint=submission.message or stale_text())
    else:  # words outside a questionnaire, or beside a button question: the patient is telling us something
        await keep_message(update, context, kind="text", text=text)


def _message_kind(message: object) -> str:
    for kind in (
        "voice",
        "audio",
        "photo",
        "video",
        "video_note",
        "document",
        "sticker",
        "location",
        "contact",
        "animation",
    ):
        if getattr(message, kind, None):
            return kind
    return "other"


async def other_message(update: Update, context: BotContext) -> None:
    """Voice notes, photos, documents, stickers…: kept and passed on to the team like a text; then the question.
    The one exception: a photo without words while the question asks for an opioid product is read as a photo of
    the box (issue 37, `bot.telegram.handlers.medicine`): decoded, neither passed on nor kept."""
    message = update.effective_message
    if message is None or update.effective_user is None:
        return
    if message.text and message.text.startswith("/"):  # an unknown command: help, not a message to the team
        patient, prompt = await answering.current_prompt(context.services, update.effective_user.id)
        if patient is None:
            await message.reply_text(refusal_text())
        elif patient.status not in NEVER_WRITTEN_TO:
            await message.reply_text(help_text(context.services.sites.get(patient.site_code)))
        return
    if await medicine.box_photo(
        update, context
    ):  # issue 37: a box photo for a product question: decoded, not passed on
        return
    await keep_message(update, context, kind=_message_kind(message), text=message.caption)


async def keep_message(
    update: Update,
    context: BotContext,
    *,
    kind: str,
    text: str | None,
    forwarded: bool = False,
    edited: bool = False,
    mode: patient_messages.Mode = "message",
    hint: str | None = None,
) -> None:
    """Store a patient's message, pass it on to the team, give the right advice, then show the current question.

    A red flag in the words gets the urgent advice at once (stored, retried until sent); every reply to the
    patient's words carries when the team will truly read them and the safety line (15 / 112, 114, the on-call
    number). A stray word or a number typed for a question gets the hint instead of the question again.
    """
    message = update.effective_message
    user = update.effective_user
    assert message is not None and user is not None
    received = await patient_messages.receive(
        context.services,
        telegram_user_id=user.id,
        chat_id=message.chat_id,
        message_id=message.message_id,
        kind=kind,
        text=text,
        telegram_date=message.date,
        mode=mode,
        details={key: True for key, on in (("forwarded", forwarded), ("edited", edited)) if on} or None,
    )
    if received.outcome == "not_patient":
        await message.reply_text(refusal_text())
        return
    # The alert (or the post carrying the words) is committed in the outbox; deliver it now, not at the next tick.
    context.application.create_task(worker.deliver_due(context.services, context.messenger), update=update)
    if received.outcome == "withdrawn" or received.patient is None:
        return  # withdrawn: kept and passed on, but the bot never writes to the patient again
    site = context.services.sites.get(received.patient.site_code)
    local_now = context.services.clock.now().astimezone(context.services.settings.timezone)
    if received.notice_id is not None:
        await patient_notices.send_notices(context.services, context.messenger, notice_id=received.notice_id)
    elif hint is not None and received.outcome in ("held", "kept"):
        await message.reply_text(hint_with_safety(hint, site, local_now, kept=received.outcome == "held"))
        return
    received_text = (media_received_text if kind != "text" and not received.flags else message_received_text)(
        site, local_now
    )
    # "Passed on" and the question asked again go in one message: one call fewer in the chat's budget (issue #18).
    current, prompt = await answering.current_prompt(context.services, user.id)
    if prompt is not None:
        await send_prompt(
            context.messenger, context.services, message.chat_id, prompt, header=received_text, replaces_previous=True
        )
        return
    if (
        current is not None
        and current.status == "active"
        and await dispatcher.dispatch_patient(
            # The patient is here now: what is due (held back by quiet hours) follows at once, at any hour.
            context.services,
            context.messenger,
            current.id,
            present=True,
            preface=received_text,
        )
    ):
        return
    await message.reply_text(received_text)


async def edited_message(update: Update, context: BotContext) -> None:
    """An edited message is never taken as an answer (what was first received stays recorded) — but words added by
    editing are the patient's words all the same: kept and passed on like any message."""
    message = update.effective_message
    if message is None or update.effective_user is None:
        return
    patient, _prompt = await answering.current_prompt(context.services, update.effective_user.id)
    if patient is None:
        return
    text = message.text or message.caption or ""
    note = _('Edited messages are not taken into account. To change an answer, use "Change my previous answer".')
    if text and patient_messages.looks_like_a_message(text, context.services):
        if patient.status not in NEVER_WRITTEN_TO:
            await message.reply_text(
                _('An edited message does not change an answer: to change one, use "Change my previous answer".')
            )
        await keep_message(update, context, kind="text", text=text, edited=True)
        return
    if text:
        # A word or a number written by editing: kept (a word is posted to the team, grouped), never an answer.
        mode: patient_messages.Mode = "answer_attempt" if patient_messages.is_a_number(text) else "stray"
        await keep_message(update, context, kind="text", text=text, edited=True, mode=mode, hint=note)
        return
    if patient.status in NEVER_WRITTEN_TO:
        return
    await context.bot.send_message(message.chat_id, note)


async def show_current(update: Update, context: BotContext) -> None:
    """/reprendre (and any moment the patient seems lost): show the current question again."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None:
        return
    patient, prompt = await answering.current_prompt(context.services, user.id)
    if patient is None:
        await context.bot.send_message(chat.id, refusal_text())
    elif prompt is not None:
        await send_prompt(context.messenger, context.services, chat.id, prompt, replaces_previous=True)
    elif patient.status == "joined":
        await context.bot.send_message(chat.id, welcome_text(), reply_markup=consent_keyboard())
    elif patient.status in NEVER_WRITTEN_TO:
        return  # withdrawn: the bot never writes to the patient again
    elif patient.status == "paused":
        await context.bot.send_message(chat.id, paused_text())
    else:
        # Nothing open, but something may be due and held back by quiet hours: the patient is here, send it.
        if patient.status == "active" and await dispatcher.dispatch_patient(
            context.services, context.messenger, patient.id, present=True
        ):
            return
        await context.bot.send_message(chat.id, nothing_due_text())


async def stale_button(update: Update, context: BotContext) -> None:
    """Any callback no other handler matched (forged or from an old version): answer it, change nothing."""
    query = update.callback_query
    if query is not None:
        await query.answer(stale_text())


def _status_text(problem: str | None) -> str:
    if problem == "not_patient":
        return refusal_text()
    if problem == "inactive":
        return inactive_text()
    if problem == "held":  # issue 36: a caregiver started this questionnaire for the patient
        return _("Your caregiver is answering this questionnaire for you. Nothing was changed.")
    return stale_text()


async def _after_submission(
    update: Update, context: BotContext, submission: Submission, *, query: CallbackQuery | None
) -> None:
    """Acknowledge (after the commit), show the choice, tell the patient what to do, then ask the next question."""
    chat_id = update.effective_chat.id if update.effective_chat else None
    message = update.effective_message
    if submission.status != "stored":
        if submission.status == "invalid":
            if query is not None:
                await query.answer(submission.message or "")
            elif message is not None:
                await message.reply_text(submission.message or stale_text())
            return
        if query is not None:
            await query.answer(_status_text(submission.status))
        elif message is not None:
            await other_message(update, context)
        return
    # The spinner stops while the next question is on its way: the callback answer is not awaited first (one
    # round trip fewer before the next question, issue #18), and its failure (a query Telegram considers too old
    # after a long wait) never keeps the next question from the patient — the answer is committed already.
    acknowledged = asyncio.ensure_future(_acknowledge(query, update.update_id)) if query is not None else None
    try:
        await _show_next(update, context, submission, chat_id)
    finally:
        if acknowledged is not None:
            await acknowledged


async def _acknowledge(query: CallbackQuery, update_id: int) -> None:
    """Stop the client's spinner; best effort (the stored answer and the next question do not depend on it)."""
    try:
        await query.answer()
    except TelegramError as exc:
        log.info("could not answer the callback query (update %s): %s", update_id, type(exc).__name__)


async def _show_next(update: Update, context: BotContext, submission: Submission, chat_id: int | None) -> None:
    """After a stored answer: urgent advice first, the choice shown (later, tidy lane), then the next question."""
    if submission.notice_id is not None:
        # "Call 15 or 112 now" / "the team will call you today" before anything else; stored, retried until sent.
        await patient_notices.send_notices(context.services, context.messenger, notice_id=submission.notice_id)
    if chat_id is None:
        return
    answered, value = submission.answered, submission.value
    # A stored answer carries its prompt and value together; without either there is no answer to show.
    if answered is not None and value is not None and submission.answered_message_id is not None:
        # Cosmetic: shown beside the next question, never before it (issue #18): queued for the TIDY lane.
        tidy_edits(context.application).show_answer(
            chat_id,
            submission.answered_message_id,
            answered_text(question_text(answered), answered.item, value),
            update.update_id,
        )
    if any(
        draft.severity != "info" or draft.rule_id in context.services.rules.event_rule_ids("free_text")
        for draft in submission.alerts
    ):
        # The alert is committed in the outbox; deliver it now rather than at the next tick.
        context.application.create_task(worker.deliver_due(context.services, context.messenger), update=update)
    if submission.prompt is not None:
        await send_prompt(context.messenger, context.services, chat_id, submission.prompt)
    elif submission.finished and answered is not None:
        await context.bot.send_message(chat_id, summary_text(answered.questionnaire.title, submission.summary))
        await dispatcher.dispatch_patient(  # the patient is here: the next due one follows at once, at any hour
            context.services,
            context.messenger,
            submission.patient.id,  # type: ignore[union-attr]  # a submission that reaches dispatch always has its patient
            present=True,
        )


async def _edit_prompt(query: CallbackQuery, prompt: answering.Prompt) -> None:
    """A tick changes the buttons only: the keyboard is edited, the text is not sent again (issue #18: a smaller
    call, and the first question keeps the questionnaire's title above it)."""
    from bot.telegram.keyboards import question_keyboard

    try:
        await query.edit_message_reply_markup(
            reply_markup=question_keyboard(
                prompt.instance.id,
                prompt.item_index,
                prompt.item,
                selection=prompt.selection,
                can_go_back=prompt.can_go_back,
            ),
        )
    except BadRequest as exc:
        log.info("could not refresh the question: %s", type(exc).__name__)


async def _drop_keyboard(query: CallbackQuery) -> None:
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest as exc:
        log.info("could not drop a keyboard: %s", type(exc).__name__)


async def _participant(update: Update, context: BotContext) -> Patient | None:
    """The patient behind a command, or None after the right answer: a refusal to strangers, silence after /stop."""
    message = update.effective_message
    if message is None or update.effective_user is None:
        return None
    patient, _prompt = await answering.current_prompt(context.services, update.effective_user.id)
    if patient is None:
        await message.reply_text(refusal_text())
        return None
    return None if patient.status in NEVER_WRITTEN_TO else patient


def help_text(site: Site | None = None) -> str:
    return (
        _(
            "This bot sends you short questionnaires from your care team after your radiotherapy.\n"
            "• Answer by tapping the buttons; for a number, type it.\n"
            "• You can also write to the team here: your message is kept and passed on.\n"
            "• /reprendre: see the current question again (or resume after a pause).\n"
            "• /pause: pause the questionnaires (for example during a hospital stay).\n"
            "• /stop: stop taking part.\n\n"
            "This service is not watched around the clock and is not an emergency service."
        )
        + "\n"
        + emergency_footer(site)
    )


async def help_command(update: Update, context: BotContext) -> None:
    """/aide: what the bot is, the commands, the emergency numbers and the site's own numbers.

    A patient who asks for help in the middle of a questionnaire should not have to know /reprendre to get back to
    it (issue 39, item 5): when a question is open and the follow-up is not paused, it is sent again after the help text, by the same path as
    /reprendre, so its earlier copy loses its buttons and only one keyboard stays live.
    """
    patient = await _participant(update, context)
    if patient is None:
        return
    site = context.services.sites.get(patient.site_code)
    await update.effective_message.reply_text(help_text(site))  # type: ignore[union-attr]  # a command handler's update always carries a message
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None:
        return
    current, prompt = await answering.current_prompt(context.services, user.id)
    if prompt is not None and current is not None and current.status == "active":  # paused: the help says /reprendre
        await send_prompt(context.messenger, context.services, chat.id, prompt, replaces_previous=True)


async def pause_command(update: Update, context: BotContext) -> None:
    """/pause: no questionnaire is sent until /reprendre; the clinicians are told."""
    from bot.services import participation

    patient = await _participant(update, context)
    if patient is None:
        return
    message = update.effective_message
    assert message is not None
    outcome = await participation.change_status(
        context.services, patient, "paused", actor=f"patient:{patient.study_id}"
    )
    if outcome == "done":
        await message.reply_text(
            _(
                "The questionnaires are paused and your care team has been told. Send /reprendre "
                "when you want to continue. In an emergency, call 15 or 112."
            )
        )
    else:
        await message.reply_text(_("Nothing to pause right now."))


async def resume_command(update: Update, context: BotContext) -> None:
    """/reprendre: end a pause if there is one, then show the current question."""
    from bot.services import participation

    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None:
        return
    patient, _prompt = await answering.current_prompt(context.services, user.id)
    if patient is not None and patient.status == "paused":
        await participation.change_status(context.services, patient, "active", actor=f"patient:{patient.study_id}")
        await context.bot.send_message(chat.id, _("Welcome back: the questionnaires start again."))
        if await dispatcher.dispatch_patient(context.services, context.messenger, patient.id, present=True):
            return
    await show_current(update, context)


async def stop_command(update: Update, context: BotContext) -> None:
    """/stop: ask for confirmation before withdrawing."""
    from bot.telegram.keyboards import stop_keyboard

    patient = await _participant(update, context)
    if patient is None:
        return
    await update.effective_message.reply_text(  # type: ignore[union-attr]  # a command handler's update always carries a message
        _(
            "Do you really want to stop taking part? You will receive no more messages. The answers already given are "
            "kept, as the study requires. You can talk about it with your care team."
        ),
        reply_markup=stop_keyboard(),
    )


async def stop_confirmed(update: Update, context: BotContext) -> None:
    """The patient confirmed (or cancelled) the withdrawal."""
    from bot.services import participation

    query = update.callback_query
    assert query is not None
    # Defence in depth (issue 39, item 7): a client can send any callback data under any of the bot's messages.
    # The press counts only when the message it came from (as Telegram's server reports it, not the client) still
    # carries this very button: the bot's own /stop confirmation, before its keyboard was removed.
    from telegram import InlineKeyboardMarkup, Message

    markup = query.message.reply_markup if isinstance(query.message, Message) else None
    buttons = (
        [b.callback_data for row in markup.inline_keyboard for b in row]
        if isinstance(markup, InlineKeyboardMarkup)
        else []
    )
    if query.data not in buttons:
        await query.answer(_("This button is no longer valid."))
        return
    patient, _prompt = await answering.current_prompt(context.services, query.from_user.id)
    if patient is None or patient.status in ("withdrawn", "deceased"):
        await query.answer(inactive_text() if patient else refusal_text())
        return
    await query.answer()
    await _drop_keyboard(query)
    if query.data == "stop:yes":
        await participation.change_status(context.services, patient, "withdrawn", actor=f"patient:{patient.study_id}")
        await context.bot.send_message(
            query.from_user.id,
            _(
                "You no longer take part in the follow-up and will receive no more messages. Thank you for your "
                "help. Your care team has been told. In an emergency, call 15 or 112."
            ),
        )
    else:
        await context.bot.send_message(query.from_user.id, _("Good, the follow-up continues."))
        await show_current(update, context)


async def medicine_choice(update: Update, context: BotContext) -> None:
    """The Yes / No under a box photo's "is this your medicine?" (issue 37; here, beside the other presses).

    Yes: the product is the answer (then the doses, as when chosen from the list). No: the list again."""
    query = update.callback_query
    assert query is not None
    match = medicine.PRESS.match(query.data or "")
    if match is None:
        await query.answer(stale_text())
        return
    scan_id, yes = int(match.group(1)), match.group(2) == "y"
    if yes:
        status, submission = await medicine_photos.confirm(context.services, query.from_user.id, scan_id)
        if status != "stored" or submission is None:
            await query.answer(stale_text())
            return
        await _drop_keyboard(query)
        await _after_submission(update, context, submission, query=query)
        return
    status, prompt = await medicine_photos.decline(context.services, query.from_user.id, scan_id)
    await query.answer()
    await _drop_keyboard(query)
    if status == "declined" and prompt is not None:
        await send_prompt(
            context.messenger,
            context.services,
            query.from_user.id,
            prompt,
            header=_("All right: please choose your medicine from the list."),
            replaces_previous=True,
        )
