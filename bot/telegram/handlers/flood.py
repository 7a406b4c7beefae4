"""Replies to a sender who floods: at most one a minute (issue #21).

This handler only marks the update (`bot.telegram.pacing.current_permit`); every handler after it still runs, so
whatever the message carries is handled and stored as usual. What changes is that the pacer drops the new messages
that would answer a flooding sender in its own chat beyond one a minute (`RepliesPaused`), instead of queueing
hundreds of replies behind that chat's one-a-second budget — queued replies hold handler slots, which is how one
account stalled every other patient.
"""

from __future__ import annotations

from telegram import Update

from bot.telegram.context import BotContext
from bot.telegram.pacing import TelegramPacing, chat_key, current_permit


async def mark_floods(update: Update, context: BotContext) -> None:
    """Count the sender's messages; say whether this update may be answered. (That the chat wrote — replies to it
    are not bulk — is noted when the update arrives, `TelegramPacing.update_arrived`, not here: a handler may get
    to it later, and Telegram counts from the message.)"""
    limiter = getattr(context.bot, "rate_limiter", None)
    message = update.message
    if not isinstance(limiter, TelegramPacing) or message is None or update.effective_user is None:
        current_permit.set(None)
        return
    chat = chat_key(message.chat_id)
    assert chat is not None
    current_permit.set(limiter.flood_guard.arrived(update.effective_user.id, chat))
