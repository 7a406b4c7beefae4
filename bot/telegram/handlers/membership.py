"""A patient blocking or unblocking the bot, and a patient who writes again after blocking it
(`bot.services.reachability`)."""

from __future__ import annotations

from telegram import ChatMember, Update

from bot.services import reachability
from bot.telegram.context import BotContext


async def private_chat_member(update: Update, context: BotContext) -> None:
    """`my_chat_member` in a private chat: "kicked" = the patient blocked the bot; "member" = unblocked."""
    member = update.my_chat_member
    if member is None or member.chat.type != "private":
        return
    status = member.new_chat_member.status
    if status in (ChatMember.BANNED, ChatMember.LEFT):
        await reachability.mark_unreachable_user(context.services, member.chat.id, source="Telegram my_chat_member")
    elif status == ChatMember.MEMBER:
        await reachability.reachable_again(context.services, member.chat.id)


async def writes_again(update: Update, context: BotContext) -> None:
    """Before any handler: a message or a press from a patient marked unreachable brings them back."""
    chat = update.effective_chat
    user = update.effective_user
    if chat is None or chat.type != "private" or user is None:
        return
    if update.message is None and update.callback_query is None:
        return
    await reachability.reachable_again(context.services, user.id)
