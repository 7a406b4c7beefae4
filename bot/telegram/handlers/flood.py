"""Replies to a sender who floods: at most one a minute (issues #21 and 39).

This handler only names the message being handled (`bot.telegram.pacing.current_permit`); every handler after it
still runs, so whatever the message carries is stored and screened as usual (a red flag inside a flood alerts, and
its urgent advice is sent). What changes is that the pacer drops the posts and edits that would answer a flooding
sender in its own chat (`RepliesPaused`), beyond one a minute, instead of queueing hundreds of them behind that
chat's one-a-second budget.

The counting is not done here: a message counts when it arrives (`TelegramPacing.update_arrived`, called by the
inbox's intake), not when a handler gets to it — counted here, a flood whose handlers waited for its chat's budget
looked like one message a second and was never noticed (issue 39). Whether a reply may go is asked when it is sent
(`FloodGuard.may_reply`), so a message that arrived before the flood was noticed is not answered either once it is.
"""

from __future__ import annotations

from telegram import Update

from bot.telegram.context import BotContext
from bot.telegram.pacing import ReplyPermit, TelegramPacing, chat_key, current_permit


async def mark_floods(update: Update, context: BotContext) -> None:
    """Name the sender, chat and update of a new message, for the pacer to ask the flood guard about."""
    limiter = getattr(context.bot, "rate_limiter", None)
    message = update.message
    if not isinstance(limiter, TelegramPacing) or message is None or update.effective_user is None:
        current_permit.set(None)
        return
    chat = chat_key(message.chat_id)
    assert chat is not None
    current_permit.set(ReplyPermit(chat, update.effective_user.id, update.update_id))
