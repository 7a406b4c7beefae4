"""Handlers that run before the others: duplicate updates, foreign groups, group migration."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot.clock import utc_iso
from bot.storage import audit
from bot.telegram.context import BotContext

log = logging.getLogger(__name__)

CLINICIAN_CHAT_SETTING = "clinician_chat_id"


async def skip_duplicates(update: Update, context: BotContext) -> None:
    """An update_id seen before (redelivered after a restart) is processed once."""
    services = context.services
    async with services.store.transaction() as tx:
        seen = await tx.fetchone("SELECT 1 FROM processed_updates WHERE update_id = ?", (update.update_id,))
        if seen is None:
            await tx.execute(
                "INSERT INTO processed_updates (update_id, processed_at) VALUES (?, ?)",
                (update.update_id, utc_iso(services.clock.now())),
            )
            await tx.commit()
    if seen is not None:
        log.info("duplicate update %s ignored", update.update_id)
        raise ApplicationHandlerStop


async def follow_migration(update: Update, context: BotContext) -> None:
    """The clinicians' group became a supergroup: follow it to its new id."""
    message = update.effective_message
    services = context.services
    if message is None or message.migrate_to_chat_id is None or message.chat_id != services.clinician_chat_id:
        return
    new_id = message.migrate_to_chat_id
    async with services.store.transaction() as tx:
        await tx.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (CLINICIAN_CHAT_SETTING, str(new_id)),
        )
        await audit.record(tx, at=services.clock.now(), actor="system", action="clinician_chat_migrated",
                           old_value=message.chat_id, new_value=new_id)
        await tx.commit()
    services.clinician_chat_id = new_id
    log.info("clinician group migrated to a supergroup")
    raise ApplicationHandlerStop


async def leave_foreign_groups(update: Update, context: BotContext) -> None:
    """The bot lives in private chats and in the clinicians' group only: it leaves any other group."""
    chat = update.effective_chat
    if chat is None or chat.type == "private" or chat.type == "channel":
        return
    if chat.id == context.services.clinician_chat_id:
        return
    if update.effective_message is not None and update.effective_message.migrate_from_chat_id is not None:
        if update.effective_message.migrate_from_chat_id == context.services.clinician_chat_id:
            return
    log.info("leaving a foreign group (update %s)", update.update_id)
    await context.bot.leave_chat(chat.id)
    raise ApplicationHandlerStop


async def load_clinician_chat(context_services: object) -> None:
    """At start-up, prefer a migrated group id recorded in the database over the configured one."""
    services = context_services
    async with services.store.read() as tx:  # type: ignore[attr-defined]
        row = await tx.fetchone("SELECT value FROM settings WHERE key = ?", (CLINICIAN_CHAT_SETTING,))
    if row is not None:
        services.clinician_chat_id = int(row["value"])  # type: ignore[attr-defined]
