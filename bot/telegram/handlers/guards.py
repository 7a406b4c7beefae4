"""Handlers that run before the others: presses from other chats, foreign groups, group migration."""

from __future__ import annotations

import logging

from telegram import ChatMember, Update
from telegram.error import BadRequest, Forbidden
from telegram.ext import ApplicationHandlerStop

from bot.services import clinician_chat
from bot.services.clinician_chat import CLINICIAN_CHAT_SETTING
from bot.telegram.context import BotContext

log = logging.getLogger(__name__)

__all__ = ["CLINICIAN_CHAT_SETTING", "follow_migration", "leave_foreign_groups", "refuse_presses_from_other_chats"]


async def follow_migration(update: Update, context: BotContext) -> None:
    """The clinicians' group became a supergroup: follow it to its new id."""
    message = update.effective_message
    services = context.services
    if message is None or message.migrate_to_chat_id is None or message.chat_id != services.clinician_chat_id:
        return
    new_id = message.migrate_to_chat_id
    await clinician_chat.follow_migration(services, message.chat_id, new_id)
    log.info("clinician group migrated to a supergroup")
    raise ApplicationHandlerStop


async def leave_foreign_groups(update: Update, context: BotContext) -> None:
    """The bot lives in private chats and in the clinicians' group only: it leaves any other group."""
    chat = update.effective_chat
    if chat is None or chat.type == "private" or chat.type == "channel":
        return
    if chat.id == context.services.clinician_chat_id:
        return
    message = update.effective_message
    if (
        message is not None
        and message.migrate_from_chat_id is not None
        and message.migrate_from_chat_id == context.services.clinician_chat_id
    ):
        return
    member = update.my_chat_member
    if member is not None and member.new_chat_member.status in (ChatMember.LEFT, ChatMember.BANNED):
        raise ApplicationHandlerStop  # removed from it already: nothing to leave
    message = update.effective_message
    if message is not None and any(user.id == context.bot.id for user in message.new_chat_members or ()):
        # The "bot added" service message: Telegram sends it together with the my_chat_member update, which
        # does the leaving (leaving twice would be refused with 403).
        raise ApplicationHandlerStop
    log.info("leaving a foreign group (update %s)", update.update_id)
    try:
        await context.bot.leave_chat(chat.id)
    except (BadRequest, Forbidden) as exc:  # no longer a member (a message that crossed the leave): goal reached
        log.info("could not leave a foreign group (update %s): %s", update.update_id, type(exc).__name__)
    raise ApplicationHandlerStop


async def refuse_presses_from_other_chats(update: Update, context: BotContext) -> None:
    """A button press counts only in the presser's own private chat.

    Telegram never delivers a press on someone else's private message; a forged update that claims it must not
    store an answer for the presser nor edit or write in another patient's chat.
    """
    from bot.telegram.handlers.patient import stale_text

    query = update.callback_query
    if query is None or query.message is None or query.message.chat.type != "private":
        return
    if query.message.chat.id != query.from_user.id:
        log.warning("button press from another chat refused (update %s)", update.update_id)
        await query.answer(stale_text())
        raise ApplicationHandlerStop
