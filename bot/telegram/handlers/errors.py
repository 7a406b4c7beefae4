"""The one place where unexpected errors end: logged without message text, the patient told something sensible."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import Forbidden, TelegramError

from bot.i18n import _
from bot.messenger import TryLater, Unreachable
from bot.storage.inbox import UpdateAlreadyHandled
from bot.telegram.context import BotContext
from bot.telegram.messenger import PAUSED
from bot.telegram.pacing import RepliesPaused

log = logging.getLogger(__name__)


async def on_error(update: object, context: BotContext) -> None:
    """Log the failure (type, update id — never the text) and apologise to a patient in a private chat."""
    error = context.error
    if isinstance(error, RepliesPaused) or (isinstance(error, TryLater) and error.reason == PAUSED):
        return  # a reply to a sender who floods, deliberately not sent (issue #21)
    if isinstance(error, UpdateAlreadyHandled):  # another replica wrote its effect first: nothing to do, nothing to say
        log.info("update %s was already handled (another replica)", error.args[0] if error.args else None)
        return
    update_id = update.update_id if isinstance(update, Update) else None
    # Through the messenger port, Telegram's own error is the cause: name it (TryLater from a 502 or a time-out)
    cause = error.__cause__ if isinstance(error, (TryLater, Unreachable)) and error.__cause__ is not None else None
    name = type(error).__name__ + (f" ({type(cause).__name__})" if cause is not None else "")
    log.error("error while handling update %s: %s", update_id, name, exc_info=error)
    if not isinstance(update, Update):
        return
    chat = update.effective_chat
    if isinstance(error, (Forbidden, Unreachable)) and chat is not None and chat.type == "private":
        # A reply to a patient refused with 403: they blocked the bot (marked unreachable, the team told once).
        from bot.services.reachability import mark_unreachable_user

        await mark_unreachable_user(context.services, chat.id, source="Telegram 403 Forbidden")
        return
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(_("Sorry, a technical problem occurred. Please try again."))
        chat = update.effective_chat
        if chat is not None and chat.type == "private":
            await context.bot.send_message(
                chat.id,
                _(
                    "Sorry, a technical problem occurred. Your previous answers are saved. Please try again in a "
                    "moment, or send /reprendre. In an emergency, call 15 or 112."
                ),
            )
    except TelegramError as exc:  # Telegram itself is failing: nothing more to do here
        log.warning("could not tell the user about the error: %s", type(exc).__name__)
